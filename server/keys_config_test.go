package server_test

import (
	"strings"
	"testing"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// A store that cannot manage keys is refused at start, instead of the key
// operations answering a status the contract does not list.
func TestNewNeedsAKeyStore(t *testing.T) {
	db := storetest.Open(t, store.SQLite, store.Options{})
	type withoutKeys struct{ server.Store }
	_, _, err := server.New(server.Config{Store: withoutKeys{db}})
	if err == nil || !strings.Contains(err.Error(), "API keys") {
		t.Fatalf("New = %v, want an error naming API keys", err)
	}
	if _, _, err := server.New(server.Config{Store: db}); err != nil {
		t.Fatalf("New with the real store: %v", err)
	}
}
