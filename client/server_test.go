package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

var bg = context.Background()

// fastRetries keeps retry tests quick without changing what is retried.
var fastRetries = client.RetryPolicy{MaxAttempts: 6, BaseBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// groupsd is a real server (middleware, validator, handlers, store) over
// HTTP on a fresh database, with an API key for org "acme".
type groupsd struct {
	url string
	key string
	db  *store.DB
}

func startGroupsd(t *testing.T, d store.Dialect) *groupsd {
	t.Helper()
	db := storetest.Open(t, d, store.Options{})
	url, key, err := serve(db, "acme")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopServing(url) })
	return &groupsd{url: url, key: key, db: db}
}

// client returns an SDK client for s with fast retries, then opts.
func (s *groupsd) client(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	return newClient(t, s.url, s.key, opts...)
}

func newClient(t *testing.T, url, key string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, append([]client.Option{client.WithAPIKey(key), client.WithRetryPolicy(fastRetries)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	servingMu sync.Mutex
	serving   = map[string]*httptest.Server{}
)

// serve starts the server on db and returns its URL and a new key for org.
// It takes no testing.T so that Example functions can use it too.
func serve(db *store.DB, org string) (url, key string, err error) {
	_, key, err = db.CreateAPIKey(bg, org, "sdk test")
	if err != nil {
		return "", "", err
	}
	_, h, err := server.New(server.Config{Store: db, Auth: server.NewAuthenticator(db, nil)})
	if err != nil {
		return "", "", err
	}
	srv := httptest.NewServer(h)
	servingMu.Lock()
	serving[srv.URL] = srv
	servingMu.Unlock()
	return srv.URL, key, nil
}

func stopServing(url string) {
	servingMu.Lock()
	srv := serving[url]
	delete(serving, url)
	servingMu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// The examples share one SQLite database; each gets an organization of its
// own, so they neither see nor disturb each other's groups.
var examples struct {
	sync.Mutex
	db  *store.DB
	dir string
	n   int
}

// exampleServer starts a server for an Example and returns its URL and an
// API key of a fresh organization. The process's TestMain stops it.
func exampleServer() (baseURL, apiKey string) {
	examples.Lock()
	defer examples.Unlock()
	if examples.db == nil {
		dir, err := os.MkdirTemp("", "groupsd-examples-")
		if err != nil {
			panic(err)
		}
		db, err := store.Open(bg, "sqlite:"+filepath.Join(dir, "groups.db"), store.Options{})
		if err != nil {
			panic(err)
		}
		examples.db, examples.dir = db, dir
	}
	examples.n++
	url, key, err := serve(examples.db, fmt.Sprintf("example-%d", examples.n))
	if err != nil {
		panic(err)
	}
	return url, key
}

func TestMain(m *testing.M) {
	code := m.Run()
	servingMu.Lock()
	for _, srv := range serving {
		srv.Close()
	}
	servingMu.Unlock()
	if examples.db != nil {
		examples.db.Close()
		os.RemoveAll(examples.dir)
	}
	os.Exit(code)
}

func ptr[T any](v T) *T { return &v }
