package store_test

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// clock is a settable clock for store.Options.Now, shared by the store tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// now and advance are Now and Add under the names the lifecycle tests use.
func (c *clock) now() time.Time          { return c.Now() }
func (c *clock) advance(d time.Duration) { c.Add(d) }

func ms(t time.Time) *int64 { v := t.UnixMilli(); return &v }

func TestAPIKeyScopes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		t.Run("DefaultIsReadWrite", func(t *testing.T) {
			_, secret, err := db.CreateAPIKey(ctx, "acme", "")
			if err != nil {
				t.Fatal(err)
			}
			cred, err := db.Authenticate(ctx, secret)
			if err != nil || !slices.Equal(cred.Scopes, store.DefaultScopes) {
				t.Fatalf("got %+v, %v; want scopes %v", cred, err, store.DefaultScopes)
			}
		})
		t.Run("CanonicalOrder", func(t *testing.T) {
			k, secret, err := db.CreateKey(ctx, store.NewAPIKey{Org: "acme",
				Scopes: []string{store.ScopeKeysManage, store.ScopeGroupsRead, store.ScopeKeysManage}})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{store.ScopeGroupsRead, store.ScopeKeysManage}
			cred, _ := db.Authenticate(ctx, secret)
			if !slices.Equal(k.Scopes, want) || !slices.Equal(cred.Scopes, want) {
				t.Fatalf("scopes %v / %v, want %v", k.Scopes, cred.Scopes, want)
			}
		})
		t.Run("RejectsUnknownOrEmpty", func(t *testing.T) {
			for _, scopes := range [][]string{{}, {"groups:admin"}, {"groups:read", ""}} {
				_, _, err := db.CreateKey(ctx, store.NewAPIKey{Org: "acme", Scopes: scopes})
				var ie *store.InvalidError
				if !errors.As(err, &ie) || ie.Field != "scopes" {
					t.Errorf("scopes %q: err = %v, want InvalidError on scopes", scopes, err)
				}
			}
		})
		t.Run("RateLimitOverride", func(t *testing.T) {
			k, secret, err := db.CreateKey(ctx, store.NewAPIKey{Org: "acme", RateLimit: &store.RateLimit{PerSecond: 2.5, Burst: 5}})
			if err != nil || k.RateLimit == nil || *k.RateLimit != (store.RateLimit{PerSecond: 2.5, Burst: 5}) {
				t.Fatalf("created %+v, %v", k, err)
			}
			if cred, _ := db.Authenticate(ctx, secret); cred.RateLimit == nil || cred.RateLimit.Burst != 5 {
				t.Fatalf("credential lacks the override: %+v", cred)
			}
			k, err = db.UpdateAPIKey(ctx, "acme", k.ID, store.KeyChanges{SetRateLimit: true})
			if err != nil || k.RateLimit != nil {
				t.Fatalf("cleared: %+v, %v", k, err)
			}
			for _, bad := range []store.RateLimit{{0, 1}, {1, 0}, {-1, 5}, {1, store.MaxRateLimit + 1}} {
				if _, err := db.UpdateAPIKey(ctx, "acme", k.ID, store.KeyChanges{SetRateLimit: true, RateLimit: &bad}); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("%+v: err = %v", bad, err)
				}
			}
			if _, err := db.UpdateAPIKey(ctx, "globex", k.ID, store.KeyChanges{Label: new(string)}); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("another org's update: %v", err)
			}
		})
	})
}

// TestAPIKeyExpiryAndRotation drives expiry and the rotation grace period
// with an injected clock.
func TestAPIKeyExpiryAndRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newClock()
		db := storetest.Open(t, d, store.Options{Now: clk.Now})
		t.Run("ExpiredKeyIsExpiredError", func(t *testing.T) {
			exp := clk.Now().Add(time.Hour)
			k, secret, err := db.CreateKey(ctx, store.NewAPIKey{Org: "acme", ExpiresAt: ms(exp)})
			if err != nil {
				t.Fatal(err)
			}
			cred, err := db.Authenticate(ctx, secret)
			if err != nil || cred.ValidUntil == nil || *cred.ValidUntil != exp.UnixMilli() {
				t.Fatalf("before expiry: %+v, %v", cred, err)
			}
			clk.Add(time.Hour)
			var ee *store.ExpiredError
			if _, err := db.Authenticate(ctx, secret); !errors.As(err, &ee) || ee.ID != k.ID || ee.At != exp.UnixMilli() {
				t.Fatalf("at expiry: %v, want ExpiredError", err)
			}
			// A wrong secret for an expired key says nothing about expiry.
			if _, err := db.Authenticate(ctx, "gk_"+k.ID+"_"+strings.Repeat("A", 43)); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExpired) {
				t.Fatalf("wrong secret: %v", err)
			}
		})
		t.Run("ExpiryMustBeInTheFuture", func(t *testing.T) {
			if _, _, err := db.CreateKey(ctx, store.NewAPIKey{Org: "acme", ExpiresAt: ms(clk.Now())}); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("RotationGrace", func(t *testing.T) {
			k, old, err := db.CreateKey(ctx, store.NewAPIKey{Org: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			rk, fresh, err := db.RotateAPIKey(ctx, "acme", k.ID, 24*time.Hour)
			if err != nil || rk.ID != k.ID || fresh == old || !strings.HasPrefix(fresh, "gk_"+k.ID+"_") {
				t.Fatalf("rotate: %+v %v", rk, err)
			}
			if rk.PreviousExpiresAt == nil || *rk.PreviousExpiresAt != clk.Now().Add(24*time.Hour).UnixMilli() || rk.RotatedAt == nil {
				t.Fatalf("rotated key %+v", rk)
			}
			for _, s := range []string{old, fresh} {
				if _, err := db.Authenticate(ctx, s); err != nil {
					t.Fatalf("within grace: %v", err)
				}
			}
			clk.Add(24*time.Hour - time.Millisecond)
			if _, err := db.Authenticate(ctx, old); err != nil {
				t.Fatalf("last millisecond of grace: %v", err)
			}
			clk.Add(time.Millisecond)
			if _, err := db.Authenticate(ctx, old); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after grace: %v, want ErrNotFound", err)
			}
			if _, err := db.Authenticate(ctx, fresh); err != nil {
				t.Fatalf("new secret after grace: %v", err)
			}
		})
		t.Run("SecondRotationRetiresTheFirstSecret", func(t *testing.T) {
			k, first, _ := db.CreateKey(ctx, store.NewAPIKey{Org: "acme"})
			_, second, _ := db.RotateAPIKey(ctx, "acme", k.ID, time.Hour)
			_, third, err := db.RotateAPIKey(ctx, "acme", k.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			for s, want := range map[string]bool{first: false, second: false, third: true} {
				if _, err := db.Authenticate(ctx, s); (err == nil) != want {
					t.Errorf("secret works = %v, want %v", err == nil, want)
				}
			}
		})
		t.Run("RotationBounds", func(t *testing.T) {
			k, _, _ := db.CreateKey(ctx, store.NewAPIKey{Org: "acme"})
			for _, g := range []time.Duration{-time.Second, store.MaxRotationGrace + time.Millisecond} {
				if _, _, err := db.RotateAPIKey(ctx, "acme", k.ID, g); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("grace %s: %v", g, err)
				}
			}
			if _, _, err := db.RotateAPIKey(ctx, "globex", k.ID, 0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("another org's rotate: %v", err)
			}
		})
	})
}

func TestAPIKeyPagesAndDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newClock()
		db := storetest.Open(t, d, store.Options{Now: clk.Now})
		var ids []string
		for range 5 {
			k, _, err := db.CreateAPIKey(ctx, "acme", "")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, k.ID)
			clk.Add(time.Millisecond)
		}
		db.CreateAPIKey(ctx, "globex", "")
		if err := db.DeleteAPIKey(ctx, "acme", ids[2]); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteAPIKey(ctx, "acme", ids[2]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if err := db.DeleteAPIKey(ctx, "globex", ids[0]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another org's delete: %v", err)
		}
		if _, err := db.GetAPIKey(ctx, "acme", ids[2]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get deleted: %v", err)
		}
		want := []string{ids[0], ids[1], ids[3], ids[4]}
		var got []string
		q := store.KeyQuery{Size: 3}
		for i := 0; ; i++ {
			p, err := db.ListKeyPage(ctx, "acme", q)
			if err != nil || p.Total != 4 || p.Number != i {
				t.Fatalf("page %d: %+v %v", i, p, err)
			}
			for _, k := range p.Keys {
				got = append(got, k.ID)
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("cursor pages %v, want %v", got, want)
		}
		p, err := db.ListKeyPage(ctx, "acme", store.KeyQuery{Page: 1, Size: 3})
		if err != nil || len(p.Keys) != 1 || p.Keys[0].ID != ids[4] {
			t.Fatalf("offset page 1: %+v %v", p, err)
		}
		if _, err := db.ListKeyPage(ctx, "acme", store.KeyQuery{Size: 3, Cursor: "bm9wZQ"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}

// TestMigrationKeepsOldKeysReadWrite: keys from before scopes existed keep
// both group scopes and no expiry.
func TestMigrationKeepsOldKeysReadWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		url := storetest.URL(t, d)
		db := storetest.OpenURL(t, url, store.Options{SkipMigrations: true})
		if err := db.MigrateTo(ctx, 4); err != nil {
			t.Fatal(err)
		}
		k, _, err := db.CreateAPIKey(ctx, "acme", "old") // fails: no scopes column yet
		if err == nil {
			t.Fatalf("created %+v before the migration", k)
		}
		secret := "gk_0123456789ab_" + strings.Repeat("x", 43)
		driver, dsn := "pgx", url
		if d == store.SQLite {
			driver, dsn = "sqlite3", strings.TrimPrefix(url, "sqlite:")
		}
		raw, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		q := "INSERT INTO api_keys (id, org, label, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)"
		if d == store.SQLite {
			q = strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?", "$5", "?").Replace(q)
		}
		h := sha256Sum(secret)
		if _, err := raw.Exec(q, "0123456789ab", "acme", "old", h, 1); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		cred, err := db.Authenticate(ctx, secret)
		if err != nil || !slices.Equal(cred.Scopes, []string{store.ScopeGroupsRead, store.ScopeGroupsWrite}) || cred.ValidUntil != nil {
			t.Fatalf("old key after migration: %+v %v", cred, err)
		}
	})
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
