package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/groupsd/groupsd/store"
)

// DefaultOrg is the organization every request maps to under --auth=none.
const DefaultOrg = "default"

// KeyStore is what authentication needs from the store.
type KeyStore interface {
	// Authenticate returns the credential of a valid, unrevoked key, or
	// store.ErrNotFound for any other key.
	Authenticate(ctx context.Context, secret string) (store.Credential, error)
	// TouchAPIKey records a use of key id.
	TouchAPIKey(ctx context.Context, id string) error
}

// Authenticator resolves API keys to organizations. It caches answers for
// at most CacheTTL, which bounds how long a revoked key keeps working, and
// records last use at most once per TouchEvery per key.
type Authenticator struct {
	keys       KeyStore
	log        *slog.Logger
	now        func() time.Time
	CacheTTL   time.Duration
	TouchEvery time.Duration

	mu      sync.Mutex
	cache   map[[32]byte]authEntry
	touched map[string]time.Time
}

type authEntry struct {
	org     string
	ok      bool
	expires time.Time
}

// NewAuthenticator returns an Authenticator over keys.
func NewAuthenticator(keys KeyStore, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{keys: keys, log: log, now: time.Now, CacheTTL: 500 * time.Millisecond,
		TouchEvery: time.Minute, cache: map[[32]byte]authEntry{}, touched: map[string]time.Time{}}
}

// Org returns the organization of token, or the 401 error for any invalid
// token (never saying why), or a 503 when the key store is unavailable.
func (a *Authenticator) Org(ctx context.Context, token string) (string, error) {
	h := sha256.Sum256([]byte(token))
	now := a.now()
	a.mu.Lock()
	e, hit := a.cache[h]
	a.mu.Unlock()
	if hit && now.Before(e.expires) {
		if !e.ok {
			return "", unauthorized()
		}
		return e.org, nil
	}
	cred, err := a.keys.Authenticate(ctx, token)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.put(h, authEntry{expires: now.Add(a.CacheTTL)})
		return "", unauthorized()
	case err != nil:
		return "", err
	}
	a.put(h, authEntry{org: cred.Org, ok: true, expires: now.Add(a.CacheTTL)})
	a.touch(cred, now)
	return cred.Org, nil
}

func (a *Authenticator) put(h [32]byte, e authEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) > 10000 { // bound memory against floods of random tokens
		clear(a.cache)
	}
	a.cache[h] = e
}

// touch updates last_used_at in the background, at most once per TouchEvery.
func (a *Authenticator) touch(cred store.Credential, now time.Time) {
	if cred.LastUsedAt != nil && now.Sub(time.UnixMilli(*cred.LastUsedAt)) < a.TouchEvery {
		return
	}
	a.mu.Lock()
	last, seen := a.touched[cred.KeyID]
	if seen && now.Sub(last) < a.TouchEvery {
		a.mu.Unlock()
		return
	}
	a.touched[cred.KeyID] = now
	a.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.keys.TouchAPIKey(ctx, cred.KeyID); err != nil {
			a.log.Warn("recording API key use failed", slog.String("key_id", cred.KeyID), slog.String("error", err.Error()))
		}
	}()
}
