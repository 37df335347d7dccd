package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
)

// KeyPrefix starts every API key, so secret scanners can recognize leaked ones.
const KeyPrefix = "gk_"

// An API key reads gk_<id>_<secret>: id is 12 lowercase hex characters (public,
// the lookup key, shown by `keys list`), secret is 32 bytes from crypto/rand in
// unpadded base64url. Only SHA-256 of the whole key is stored; a fast hash is
// enough because the secret has 256 bits of entropy.
var keyPattern = regexp.MustCompile(`^gk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$`)

// orgPattern is the organization slug syntax.
var orgPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidOrg reports whether s is a well-formed organization slug.
func ValidOrg(s string) bool { return orgPattern.MatchString(s) }

// APIKey describes a stored key. The secret is never stored or returned.
type APIKey struct {
	ID         string
	Org        string
	Label      string
	CreatedAt  int64
	LastUsedAt *int64
	RevokedAt  *int64
}

type apiKeyRow struct {
	ID         string `gorm:"column:id;primaryKey"`
	Org        string
	Label      string
	SecretHash []byte `gorm:"column:secret_hash"`
	CreatedAt  int64  `gorm:"autoCreateTime:false"`
	LastUsedAt *int64
	RevokedAt  *int64
}

func (apiKeyRow) TableName() string { return "api_keys" }

func hashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateAPIKey creates a key for org and returns it with the secret, which
// exists nowhere else afterwards. Returns *InvalidError (Field "organization") for a malformed org slug.
func (db *DB) CreateAPIKey(ctx context.Context, org, label string) (APIKey, string, error) {
	if !ValidOrg(org) {
		return APIKey{}, "", invalid("organization", fmt.Sprintf("%q must match %s", org, orgPattern))
	}
	var idb [6]byte
	var sb [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return APIKey{}, "", err
	}
	if _, err := rand.Read(sb[:]); err != nil {
		return APIKey{}, "", err
	}
	id := hex.EncodeToString(idb[:])
	secret := KeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(sb[:])
	row := apiKeyRow{ID: id, Org: org, Label: label, SecretHash: hashKey(secret), CreatedAt: db.nowMillis()}
	if err := db.w.WithContext(ctx).Create(&row).Error; err != nil {
		return APIKey{}, "", translate(err)
	}
	return row.key(), secret, nil
}

func (r apiKeyRow) key() APIKey {
	return APIKey{ID: r.ID, Org: r.Org, Label: r.Label, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
}

// ListAPIKeys lists keys, of one organization when org is not empty.
func (db *DB) ListAPIKeys(ctx context.Context, org string) ([]APIKey, error) {
	var rows []apiKeyRow
	q := db.r.WithContext(ctx).Order("created_at, id")
	if org != "" {
		q = q.Where("org = ?", org)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	keys := make([]APIKey, len(rows))
	for i, r := range rows {
		keys[i] = r.key()
	}
	return keys, nil
}

// RevokeAPIKey revokes the key given by its id or by its whole secret.
// Returns *NotFoundError when no such key exists; revoking twice is harmless.
func (db *DB) RevokeAPIKey(ctx context.Context, idOrSecret string) (APIKey, error) {
	id := idOrSecret
	if m := keyPattern.FindStringSubmatch(idOrSecret); m != nil {
		id = m[1]
	}
	var row apiKeyRow
	res := db.w.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&row)
	if res.Error != nil {
		return APIKey{}, translate(res.Error)
	}
	if res.RowsAffected == 0 || (id != idOrSecret && subtle.ConstantTimeCompare(row.SecretHash, hashKey(idOrSecret)) != 1) {
		return APIKey{}, &NotFoundError{Kind: "key", ID: id}
	}
	if row.RevokedAt == nil {
		now := db.nowMillis()
		if err := db.w.WithContext(ctx).Model(&apiKeyRow{}).Where("id = ? AND revoked_at IS NULL", id).
			Update("revoked_at", now).Error; err != nil {
			return APIKey{}, translate(err)
		}
		row.RevokedAt = &now
	}
	return row.key(), nil
}

// Credential is the result of a successful authentication.
type Credential struct {
	KeyID      string
	Org        string
	LastUsedAt *int64
}

// Authenticate returns the organization of a valid, unrevoked key. Every
// failure (malformed, unknown, revoked, wrong secret) is the same ErrNotFound,
// so callers cannot tell them apart.
func (db *DB) Authenticate(ctx context.Context, secret string) (Credential, error) {
	m := keyPattern.FindStringSubmatch(secret)
	if m == nil {
		return Credential{}, ErrNotFound
	}
	var rows []apiKeyRow
	if err := db.r.WithContext(ctx).Where("id = ?", m[1]).Limit(1).Find(&rows).Error; err != nil {
		return Credential{}, translate(err)
	}
	// Compare a hash even when the id is unknown, so timing does not tell.
	want := make([]byte, sha256.Size)
	if len(rows) == 1 {
		want = rows[0].SecretHash
	}
	if subtle.ConstantTimeCompare(want, hashKey(secret)) != 1 || len(rows) != 1 || rows[0].RevokedAt != nil {
		return Credential{}, ErrNotFound
	}
	return Credential{KeyID: rows[0].ID, Org: rows[0].Org, LastUsedAt: rows[0].LastUsedAt}, nil
}

// TouchAPIKey records that the key was used at the current time.
func (db *DB) TouchAPIKey(ctx context.Context, id string) error {
	return translate(db.w.WithContext(ctx).Model(&apiKeyRow{}).Where("id = ?", id).
		Update("last_used_at", db.nowMillis()).Error)
}
