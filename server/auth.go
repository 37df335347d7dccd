package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// DefaultOrg is the organization every request maps to under --auth=none.
const DefaultOrg = "default"

// KeyStore is what authentication needs from the store.
type KeyStore interface {
	// Authenticate returns the credential of a valid, unrevoked key,
	// *store.ExpiredError for a genuine key past its expiry, or
	// store.ErrNotFound for any other key.
	Authenticate(ctx context.Context, secret string) (store.Credential, error)
	// TouchAPIKey records a use of key id.
	TouchAPIKey(ctx context.Context, id string) error
}

// Principal is the authenticated caller: a key of an organization and what
// it may do.
type Principal struct {
	Org   string
	KeyID string // "" under --auth=none
	// Scopes are canonical (store.CanonicalScopes).
	Scopes []string
	// ExpiresAt is the key's expiry (Unix ms), nil for never.
	ExpiresAt *int64
	// RateLimit is the key's override of the default limit, or nil.
	RateLimit *store.RateLimit
}

// Has reports whether the principal holds scope.
func (p Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// PrincipalFrom returns the authenticated caller carried by ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	if !ok {
		return Principal{}, false
	}
	return *p, true
}

// anonymous is the caller of every request under --auth=none: it may do
// everything in DefaultOrg.
var anonymous = Principal{Org: DefaultOrg, Scopes: store.Scopes}

// Authenticator resolves API keys to principals. It caches answers for at
// most CacheTTL (and never past the secret's expiry), which bounds how long
// a deleted key keeps working on any replica, and records last use at most
// once per TouchEvery per key.
type Authenticator struct {
	keys KeyStore
	log  *slog.Logger
	// Now is the clock; tests inject the store's.
	Now        func() time.Time
	CacheTTL   time.Duration
	TouchEvery time.Duration

	mu      sync.Mutex
	cache   map[[32]byte]authEntry
	touched map[string]time.Time
}

type authEntry struct {
	p       Principal
	err     error // the 401 to repeat, when not nil
	expires time.Time
}

// NewAuthenticator returns an Authenticator over keys.
func NewAuthenticator(keys KeyStore, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{keys: keys, log: log, Now: time.Now, CacheTTL: 500 * time.Millisecond,
		TouchEvery: time.Minute, cache: map[[32]byte]authEntry{}, touched: map[string]time.Time{}}
}

// Org returns the organization of token; see Principal.
func (a *Authenticator) Org(ctx context.Context, token string) (string, error) {
	p, err := a.Principal(ctx, token)
	return p.Org, err
}

// Principal returns the caller that token authenticates, or the 401 error
// for any invalid token (never saying why, except to the holder of a
// genuine expired key), or a 503 when the key store is unavailable.
func (a *Authenticator) Principal(ctx context.Context, token string) (Principal, error) {
	h := sha256.Sum256([]byte(token))
	now := a.Now()
	a.mu.Lock()
	e, hit := a.cache[h]
	a.mu.Unlock()
	if hit && now.Before(e.expires) {
		return e.p, e.err
	}
	cred, err := a.keys.Authenticate(ctx, token)
	var ee *store.ExpiredError
	switch {
	case errors.As(err, &ee):
		ae := expiredKey(ee.At)
		a.put(h, authEntry{err: ae, expires: now.Add(a.CacheTTL)})
		return Principal{}, ae
	case errors.Is(err, store.ErrNotFound):
		ae := unauthorized()
		a.put(h, authEntry{err: ae, expires: now.Add(a.CacheTTL)})
		return Principal{}, ae
	case err != nil:
		return Principal{}, err
	}
	p := Principal{Org: cred.Org, KeyID: cred.KeyID, Scopes: cred.Scopes, ExpiresAt: cred.ExpiresAt, RateLimit: cred.RateLimit}
	expires := now.Add(a.CacheTTL)
	if cred.ValidUntil != nil {
		if until := time.UnixMilli(*cred.ValidUntil); until.Before(expires) {
			expires = until
		}
	}
	a.put(h, authEntry{p: p, expires: expires})
	a.touch(ctx, cred, now)
	return p, nil
}

func (a *Authenticator) put(h [32]byte, e authEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) > 10000 { // bound memory against floods of random tokens
		clear(a.cache)
	}
	a.cache[h] = e
}

// touch updates last_used_at at most once per TouchEvery per key and
// replica. It writes before the request goes on, so a key's first use
// (or its first after a quiet minute) shows at once, and costs one write a
// minute per key, never one per request. A failed write is logged and
// does not fail the request.
func (a *Authenticator) touch(ctx context.Context, cred store.Credential, now time.Time) {
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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := a.keys.TouchAPIKey(ctx, cred.KeyID); err != nil {
		a.log.Warn("recording API key use failed", slog.String("key_id", cred.KeyID), slog.String("error", err.Error()))
	}
}

// expiredKey is the 401 of a genuine key past its expiry: only its holder
// can get it, so saying why helps without telling anyone else anything.
func expiredKey(at int64) *apiError {
	ae := unauthorized()
	ae.detail = "the API key expired at " + apitime.FromUnixMilli(at).String() + "; use another key"
	ae.headers = map[string]string{"WWW-Authenticate": `Bearer realm="groupsd", error="invalid_token", error_description="the key expired"`}
	return ae
}

// insufficientScope is the 403 of a key that lacks scope (RFC 6750 3.1).
func insufficientScope(scope, detail string) *apiError {
	return &apiError{status: http.StatusForbidden, code: api.INSUFFICIENTSCOPE, detail: detail,
		headers: map[string]string{"WWW-Authenticate": `Bearer realm="groupsd", error="insufficient_scope", scope="` + scope + `"`}}
}
