package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// KeyPrefix starts every API key, so secret scanners can recognize leaked ones.
const KeyPrefix = "gk_"

// An API key reads gk_<id>_<secret>: id is 12 lowercase hex characters (public,
// the lookup key, shown by `keys list`), secret is 32 bytes from crypto/rand in
// unpadded base64url. Only SHA-256 of the whole key is stored; a fast hash is
// enough because the secret has 256 bits of entropy.
var keyPattern = regexp.MustCompile(`^gk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$`)

// KeyIDPattern is the syntax of a key id.
var KeyIDPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

// orgPattern is the organization slug syntax.
var orgPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidOrg reports whether s is a well-formed organization slug.
func ValidOrg(s string) bool { return orgPattern.MatchString(s) }

// The scopes a key may hold. A scope grants a family of operations; the API
// contract (openapi.yaml, each operation's security) says which.
const (
	ScopeGroupsRead     = "groups:read"
	ScopeGroupsWrite    = "groups:write"
	ScopeWebhooksManage = "webhooks:manage"
	ScopeKeysManage     = "keys:manage"
)

// Scopes lists every scope in canonical order.
var Scopes = []string{ScopeGroupsRead, ScopeGroupsWrite, ScopeWebhooksManage, ScopeKeysManage}

// DefaultScopes are the scopes of a key created without naming any, and of
// every key created before scopes existed (migration 00007).
var DefaultScopes = []string{ScopeGroupsRead, ScopeGroupsWrite}

// ValidScope reports whether s is one of Scopes.
func ValidScope(s string) bool { return slices.Contains(Scopes, s) }

// RateLimit is a token bucket: PerSecond tokens refill each second, up to
// Burst.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// MaxRateLimit bounds both fields of a RateLimit.
const MaxRateLimit = 1_000_000

// APIKey describes a stored key. The secret is never stored or returned.
// Times are Unix milliseconds.
type APIKey struct {
	ID    string
	Org   string
	Label string
	// Scopes are canonical: known, unique, in the order of Scopes. They
	// never change after creation.
	Scopes     []string
	CreatedAt  int64
	ExpiresAt  *int64
	LastUsedAt *int64
	RevokedAt  *int64
	// RotatedAt is when the secret last changed; PreviousExpiresAt is when
	// the secret before it stops (stopped) working.
	RotatedAt         *int64
	PreviousExpiresAt *int64
	// RateLimit overrides the server's default limit when set.
	RateLimit *RateLimit
}

// NewAPIKey is a key to create.
type NewAPIKey struct {
	Org   string
	Label string
	// Scopes nil means DefaultScopes; an empty list is invalid.
	Scopes    []string
	ExpiresAt *int64
	RateLimit *RateLimit
}

type apiKeyRow struct {
	ID             string `gorm:"column:id;primaryKey"`
	Org            string
	Label          string
	SecretHash     []byte `gorm:"column:secret_hash"`
	Scopes         string
	CreatedAt      int64 `gorm:"autoCreateTime:false"`
	ExpiresAt      *int64
	LastUsedAt     *int64
	RevokedAt      *int64
	RotatedAt      *int64
	PrevSecretHash []byte `gorm:"column:prev_secret_hash"`
	PrevExpiresAt  *int64
	RatePerSecond  *float64
	RateBurst      *int
}

func (apiKeyRow) TableName() string { return "api_keys" }

func hashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// newSecret returns a fresh secret for key id.
func newSecret(id string) (string, error) {
	var sb [32]byte
	if _, err := rand.Read(sb[:]); err != nil {
		return "", err
	}
	return KeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(sb[:]), nil
}

// CanonicalScopes checks scopes and returns them known, unique and in the
// order of Scopes. Returns *InvalidError (Field "scopes") for an empty list
// or an unknown scope.
func CanonicalScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, invalid("scopes", "must name at least one scope")
	}
	for _, s := range scopes {
		if !ValidScope(s) {
			return nil, invalid("scopes", fmt.Sprintf("%q is not a scope (want %s)", s, strings.Join(Scopes, ", ")))
		}
	}
	var out []string
	for _, s := range Scopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func checkRateLimit(rl *RateLimit) error {
	if rl == nil {
		return nil
	}
	if !(rl.PerSecond > 0 && rl.PerSecond <= MaxRateLimit) || math.IsNaN(rl.PerSecond) {
		return invalid("rateLimit.perSecond", fmt.Sprintf("must be above 0 and at most %d", MaxRateLimit))
	}
	if rl.Burst < 1 || rl.Burst > MaxRateLimit {
		return invalid("rateLimit.burst", fmt.Sprintf("must be between 1 and %d", MaxRateLimit))
	}
	return nil
}

// CreateAPIKey creates a key for org with DefaultScopes and no expiry, and
// returns it with the secret. See CreateKey.
func (db *DB) CreateAPIKey(ctx context.Context, org, label string) (APIKey, string, error) {
	return db.CreateKey(ctx, NewAPIKey{Org: org, Label: label})
}

// CreateKey creates a key and returns it with the secret, which exists
// nowhere else afterwards. Returns *InvalidError for a malformed org slug
// (Field "organization"), bad scopes ("scopes"), an expiry that is not in
// the future ("expiresAt") or a bad rate limit ("rateLimit.perSecond",
// "rateLimit.burst").
func (db *DB) CreateKey(ctx context.Context, in NewAPIKey) (APIKey, string, error) {
	if !ValidOrg(in.Org) {
		return APIKey{}, "", invalid("organization", fmt.Sprintf("%q must match %s", in.Org, orgPattern))
	}
	scopes := DefaultScopes
	if in.Scopes != nil {
		var err error
		if scopes, err = CanonicalScopes(in.Scopes); err != nil {
			return APIKey{}, "", err
		}
	}
	now := db.nowMillis()
	if in.ExpiresAt != nil && *in.ExpiresAt <= now {
		return APIKey{}, "", invalid("expiresAt", "must be in the future")
	}
	if err := checkRateLimit(in.RateLimit); err != nil {
		return APIKey{}, "", err
	}
	var idb [6]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return APIKey{}, "", err
	}
	id := hex.EncodeToString(idb[:])
	secret, err := newSecret(id)
	if err != nil {
		return APIKey{}, "", err
	}
	row := apiKeyRow{ID: id, Org: in.Org, Label: in.Label, SecretHash: hashKey(secret),
		Scopes: strings.Join(scopes, " "), CreatedAt: now, ExpiresAt: in.ExpiresAt}
	if in.RateLimit != nil {
		row.RatePerSecond, row.RateBurst = &in.RateLimit.PerSecond, &in.RateLimit.Burst
	}
	if err := db.boundedStatement(ctx, func(w *gorm.DB) *gorm.DB { return w.Create(&row) }).Error; err != nil {
		return APIKey{}, "", translate(err)
	}
	return row.key(), secret, nil
}

func (r apiKeyRow) key() APIKey {
	k := APIKey{ID: r.ID, Org: r.Org, Label: r.Label, Scopes: strings.Fields(r.Scopes), CreatedAt: r.CreatedAt,
		ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt,
		RotatedAt: r.RotatedAt, PreviousExpiresAt: r.PrevExpiresAt}
	if r.RatePerSecond != nil && r.RateBurst != nil {
		k.RateLimit = &RateLimit{PerSecond: *r.RatePerSecond, Burst: *r.RateBurst}
	}
	return k
}

// ListAPIKeys lists keys, revoked ones included, of one organization when
// org is not empty (the CLI's view).
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

// KeyQuery selects one page of an organization's keys: Page (offset
// paging) or Cursor (from a previous page's Next), Size per page.
type KeyQuery struct {
	Page, Size int
	Cursor     string
}

// KeyPage is one page of keys, oldest first.
type KeyPage struct {
	Keys   []APIKey
	Number int
	Total  int64
	// Next is the cursor of the following page, or "" on the last page.
	Next string
}

// ListKeyPage lists the unrevoked keys of org, oldest first (ties by id),
// one page at a time. Returns *InvalidError (Field "cursor") for a
// malformed cursor.
func (db *DB) ListKeyPage(ctx context.Context, org string, q KeyQuery) (KeyPage, error) {
	base := db.r.WithContext(ctx).Model(&apiKeyRow{}).Where("org = ? AND revoked_at IS NULL", org)
	var total int64
	if err := base.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return KeyPage{}, translate(err)
	}
	sel := base.Session(&gorm.Session{}).Order("created_at, id").Limit(q.Size + 1)
	page := KeyPage{Number: q.Page, Total: total}
	if q.Cursor != "" {
		created, id, ok := decodeKeyCursor(q.Cursor)
		if !ok {
			return KeyPage{}, invalid("cursor", "is malformed")
		}
		sel = sel.Where("created_at > ? OR (created_at = ? AND id > ?)", created, created, id)
		// A cursor page's number is where it sits in the whole list.
		var before int64
		if err := base.Session(&gorm.Session{}).Where("created_at < ? OR (created_at = ? AND id <= ?)", created, created, id).
			Count(&before).Error; err != nil {
			return KeyPage{}, translate(err)
		}
		page.Number = int(before) / max(q.Size, 1)
	} else {
		sel = sel.Offset(q.Page * q.Size)
	}
	var rows []apiKeyRow
	if err := sel.Find(&rows).Error; err != nil {
		return KeyPage{}, translate(err)
	}
	if len(rows) > q.Size {
		rows = rows[:q.Size]
		last := rows[len(rows)-1]
		page.Next = encodeKeyCursor(last.CreatedAt, last.ID)
	}
	page.Keys = make([]APIKey, len(rows))
	for i, r := range rows {
		page.Keys[i] = r.key()
	}
	return page, nil
}

func encodeKeyCursor(created int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("k1." + strconv.FormatInt(created, 10) + "." + id))
}

func decodeKeyCursor(s string) (int64, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", false
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] != "k1" || !KeyIDPattern.MatchString(parts[2]) {
		return 0, "", false
	}
	created, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return created, parts[2], true
}

// GetAPIKey returns the unrevoked key id of org, or *NotFoundError (Kind
// "key") when org has no such key (revoked keys included).
func (db *DB) GetAPIKey(ctx context.Context, org, id string) (APIKey, error) {
	var rows []apiKeyRow
	if err := db.r.WithContext(ctx).Where("id = ? AND org = ? AND revoked_at IS NULL", id, org).Limit(1).Find(&rows).Error; err != nil {
		return APIKey{}, translate(err)
	}
	if len(rows) == 0 {
		return APIKey{}, &NotFoundError{Kind: "key", ID: id}
	}
	return rows[0].key(), nil
}

// RevokeAPIKey revokes the key given by its id or by its whole secret, in
// any organization (the CLI's command). Returns *NotFoundError when no such
// key exists; revoking twice is harmless.
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

// DeleteAPIKey revokes key id of org: every secret of it stops working.
// Returns *NotFoundError when org has no such unrevoked key, so a second
// delete is a not-found too. The row stays, revoked, for the audit trail
// (`groupsd keys list` shows it).
func (db *DB) DeleteAPIKey(ctx context.Context, org, id string) error {
	res := db.boundedStatement(ctx, func(w *gorm.DB) *gorm.DB {
		return w.Model(&apiKeyRow{}).Where("id = ? AND org = ? AND revoked_at IS NULL", id, org).
			Update("revoked_at", db.nowMillis())
	})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return &NotFoundError{Kind: "key", ID: id}
	}
	return nil
}

// MaxRotationGrace is the longest grace period of a rotation.
const MaxRotationGrace = 7 * 24 * time.Hour

// RotateAPIKey gives key id of org a new secret and returns it. The secret
// it replaces keeps working for grace (0 to MaxRotationGrace), within the
// key's own expiry; a secret replaced before that stops at once, so at most
// two secrets work at any time. Returns *NotFoundError when org has no such
// unrevoked key and *InvalidError (Field "gracePeriod") for a grace out of
// range.
func (db *DB) RotateAPIKey(ctx context.Context, org, id string, grace time.Duration) (APIKey, string, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return APIKey{}, "", invalid("gracePeriod", fmt.Sprintf("must be between 0 and %d seconds", int(MaxRotationGrace.Seconds())))
	}
	secret, err := newSecret(id)
	if err != nil {
		return APIKey{}, "", err
	}
	now := db.nowMillis()
	// One statement: SET reads the row's values from before the update, so
	// the old hash moves to prev_secret_hash atomically, whatever runs
	// concurrently.
	res := db.boundedStatement(ctx, func(w *gorm.DB) *gorm.DB {
		return w.Model(&apiKeyRow{}).Where("id = ? AND org = ? AND revoked_at IS NULL", id, org).
			Updates(map[string]any{
				"prev_secret_hash": gorm.Expr("secret_hash"),
				"secret_hash":      hashKey(secret),
				"prev_expires_at":  now + grace.Milliseconds(),
				"rotated_at":       now,
			})
	})
	if res.Error != nil {
		return APIKey{}, "", translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return APIKey{}, "", &NotFoundError{Kind: "key", ID: id}
	}
	k, err := db.getKeyW(ctx, org, id)
	return k, secret, err
}

// getKeyW reads a key through the writer, so it sees the writer's last
// change on SQLite at once.
func (db *DB) getKeyW(ctx context.Context, org, id string) (APIKey, error) {
	var rows []apiKeyRow
	if err := db.w.WithContext(ctx).Where("id = ? AND org = ?", id, org).Limit(1).Find(&rows).Error; err != nil {
		return APIKey{}, translate(err)
	}
	if len(rows) == 0 {
		return APIKey{}, &NotFoundError{Kind: "key", ID: id}
	}
	return rows[0].key(), nil
}

// KeyChanges are the mutable properties of a key. Scopes and expiry are
// not among them: a key that needs others is replaced by a new key.
type KeyChanges struct {
	// Label, when not nil, becomes the key's label.
	Label *string
	// SetRateLimit applies RateLimit: an override, or nil for the defaults.
	SetRateLimit bool
	RateLimit    *RateLimit
}

// UpdateAPIKey applies ch to key id of org and returns the key. Returns
// *NotFoundError when org has no such unrevoked key and *InvalidError for a
// bad rate limit.
func (db *DB) UpdateAPIKey(ctx context.Context, org, id string, ch KeyChanges) (APIKey, error) {
	set := map[string]any{}
	if ch.Label != nil {
		set["label"] = *ch.Label
	}
	if ch.SetRateLimit {
		if err := checkRateLimit(ch.RateLimit); err != nil {
			return APIKey{}, err
		}
		set["rate_per_second"], set["rate_burst"] = nil, nil
		if ch.RateLimit != nil {
			set["rate_per_second"], set["rate_burst"] = ch.RateLimit.PerSecond, ch.RateLimit.Burst
		}
	}
	if len(set) == 0 {
		return db.GetAPIKey(ctx, org, id)
	}
	res := db.boundedStatement(ctx, func(w *gorm.DB) *gorm.DB {
		return w.Model(&apiKeyRow{}).Where("id = ? AND org = ? AND revoked_at IS NULL", id, org).Updates(set)
	})
	if res.Error != nil {
		return APIKey{}, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return APIKey{}, &NotFoundError{Kind: "key", ID: id}
	}
	return db.getKeyW(ctx, org, id)
}

// Credential is the result of a successful authentication.
type Credential struct {
	KeyID      string
	Org        string
	Scopes     []string
	LastUsedAt *int64
	// ExpiresAt is the key's expiry, nil for never.
	ExpiresAt *int64
	// ValidUntil is when the secret presented stops working (the key's
	// expiry, or the end of a rotation's grace period), or nil for never.
	ValidUntil *int64
	RateLimit  *RateLimit
}

// Authenticate returns the credential of a valid key: its current secret,
// or its previous one within a rotation's grace period. A key whose secret
// is right but which has expired is *ExpiredError; every other failure
// (malformed, unknown, revoked, wrong or retired secret) is the same
// ErrNotFound, so callers cannot tell them apart.
func (db *DB) Authenticate(ctx context.Context, secret string) (Credential, error) {
	m := keyPattern.FindStringSubmatch(secret)
	if m == nil {
		return Credential{}, ErrNotFound
	}
	var rows []apiKeyRow
	if err := db.r.WithContext(ctx).Where("id = ?", m[1]).Limit(1).Find(&rows).Error; err != nil {
		return Credential{}, translate(err)
	}
	// Compare both hashes even when the id is unknown, so timing does not tell.
	cur, prev := make([]byte, sha256.Size), make([]byte, sha256.Size)
	if len(rows) == 1 {
		cur = rows[0].SecretHash
		if rows[0].PrevSecretHash != nil {
			prev = rows[0].PrevSecretHash
		}
	}
	h := hashKey(secret)
	okCur := subtle.ConstantTimeCompare(cur, h) == 1
	okPrev := subtle.ConstantTimeCompare(prev, h) == 1
	if len(rows) != 1 || rows[0].RevokedAt != nil {
		return Credential{}, ErrNotFound
	}
	r := rows[0]
	now := db.nowMillis()
	validUntil := r.ExpiresAt
	switch {
	case okCur:
	case okPrev && r.PrevExpiresAt != nil && now < *r.PrevExpiresAt:
		if validUntil == nil || *r.PrevExpiresAt < *validUntil {
			validUntil = r.PrevExpiresAt
		}
	default:
		return Credential{}, ErrNotFound
	}
	if r.ExpiresAt != nil && now >= *r.ExpiresAt {
		return Credential{}, &ExpiredError{ID: r.ID, At: *r.ExpiresAt}
	}
	k := r.key()
	return Credential{KeyID: r.ID, Org: r.Org, Scopes: k.Scopes, LastUsedAt: r.LastUsedAt,
		ExpiresAt: r.ExpiresAt, ValidUntil: validUntil, RateLimit: k.RateLimit}, nil
}

// TouchAPIKey records that the key was used at the current time.
func (db *DB) TouchAPIKey(ctx context.Context, id string) error {
	return translate(db.boundedStatement(ctx, func(w *gorm.DB) *gorm.DB {
		return w.Model(&apiKeyRow{}).Where("id = ?", id).Update("last_used_at", db.nowMillis())
	}).Error)
}
