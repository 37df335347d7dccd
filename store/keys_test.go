package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// rawDump returns every stored column of every api_keys row as text.
func rawDump(t *testing.T, d store.Dialect, url string) string {
	t.Helper()
	driver, dsn := "pgx", url
	if d == store.SQLite {
		driver, dsn = "sqlite3", strings.TrimPrefix(url, "sqlite:")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, org, label, secret_hash, created_at FROM api_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, org, label string
		var hash []byte
		var created int64
		if err := rows.Scan(&id, &org, &label, &hash, &created); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s|%s|%s|%s|%x|%d\n", id, org, label, hash, hash, created)
	}
	return b.String()
}

func TestAPIKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		url := storetest.URL(t, d)
		db := storetest.OpenURL(t, url, store.Options{})

		k, secret, err := db.CreateAPIKey(ctx, "acme", "ci")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "gk_"+k.ID+"_") || len(secret) < 3+12+1+43 {
			t.Fatalf("secret %q does not carry the gk_<id>_ prefix or 256 bits", secret)
		}

		t.Run("StoresNoPlaintext", func(t *testing.T) {
			dump := rawDump(t, d, url)
			tail := secret[strings.LastIndexByte(secret, '_')+1:]
			if !strings.Contains(dump, k.ID) || strings.Contains(dump, tail) || strings.Contains(dump, secret) {
				t.Fatalf("stored row leaks the secret or lacks the id:\n%s", dump)
			}
		})
		t.Run("AuthenticatesOnlyTheExactKey", func(t *testing.T) {
			cred, err := db.Authenticate(ctx, secret)
			if err != nil || cred.Org != "acme" || cred.KeyID != k.ID {
				t.Fatalf("got %+v, %v", cred, err)
			}
			flipped := []byte(secret)
			flipped[len(flipped)-1] ^= 1
			for _, bad := range []string{"", secret + " ", " " + secret, string(flipped), "gk_" + k.ID, k.ID, strings.ToUpper(secret)} {
				if _, err := db.Authenticate(ctx, bad); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Authenticate(%q) = %v, want ErrNotFound", bad, err)
				}
			}
		})
		t.Run("RevokeByIDOrSecret", func(t *testing.T) {
			k2, secret2, _ := db.CreateAPIKey(ctx, "acme", "")
			if _, err := db.RevokeAPIKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RevokeAPIKey(ctx, secret2); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{secret, secret2} {
				if _, err := db.Authenticate(ctx, s); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("revoked key still authenticates: %v", err)
				}
			}
			if _, err := db.RevokeAPIKey(ctx, "gk_"+k2.ID+"_"+strings.Repeat("A", 43)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("revoke with a wrong secret = %v, want ErrNotFound", err)
			}
			keys, err := db.ListAPIKeys(ctx, "acme")
			if err != nil || len(keys) != 2 || keys[0].RevokedAt == nil || keys[1].RevokedAt == nil {
				t.Fatalf("list = %+v, %v", keys, err)
			}
		})
		t.Run("RejectsBadOrgSlug", func(t *testing.T) {
			for _, org := range []string{"", "-x", "Acme", "a b", strings.Repeat("a", 64)} {
				if _, _, err := db.CreateAPIKey(ctx, org, ""); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("org %q: err = %v", org, err)
				}
			}
		})
	})
}
