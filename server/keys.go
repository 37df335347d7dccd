package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// KeyAdmin is what the API key handlers need from the store. Every method
// acts within one organization: a key of another one is *store.NotFoundError
// (Kind "key"), exactly like a key that does not exist or was deleted.
type KeyAdmin interface {
	// CreateKey returns *store.InvalidError for bad scopes, expiry or limit.
	CreateKey(ctx context.Context, in store.NewAPIKey) (store.APIKey, string, error)
	GetAPIKey(ctx context.Context, org, id string) (store.APIKey, error)
	// ListKeyPage returns *store.InvalidError (Field "cursor") for a bad cursor.
	ListKeyPage(ctx context.Context, org string, q store.KeyQuery) (store.KeyPage, error)
	UpdateAPIKey(ctx context.Context, org, id string, ch store.KeyChanges) (store.APIKey, error)
	DeleteAPIKey(ctx context.Context, org, id string) error
	// RotateAPIKey returns *store.InvalidError (Field "gracePeriod").
	RotateAPIKey(ctx context.Context, org, id string, grace time.Duration) (store.APIKey, string, error)
}

// DefaultRotationGrace is how long a rotated secret keeps working when the
// request does not say.
const DefaultRotationGrace = 24 * time.Hour

func keyLocation(id string) string { return "/api/v2/api-keys/" + id }

func millis(ms *int64) *apitime.Millis {
	if ms == nil {
		return nil
	}
	m := apitime.FromUnixMilli(*ms)
	return &m
}

// toAPIKey is the one mapping from a stored key to its wire form.
func toAPIKey(k store.APIKey) api.ApiKey {
	out := api.ApiKey{Id: k.ID, Name: k.Label, Scopes: make([]api.Scope, len(k.Scopes)),
		CreatedAt: apitime.FromUnixMilli(k.CreatedAt), ExpiresAt: millis(k.ExpiresAt), LastUsedAt: millis(k.LastUsedAt),
		RotatedAt: millis(k.RotatedAt), PreviousSecretExpiresAt: millis(k.PreviousExpiresAt)}
	for i, s := range k.Scopes {
		out.Scopes[i] = api.Scope(s)
	}
	if k.RateLimit != nil {
		out.RateLimit = &api.RateLimit{PerSecond: k.RateLimit.PerSecond, Burst: int32(k.RateLimit.Burst)}
	}
	return out
}

func withSecret(k store.APIKey, secret string) api.ApiKeyWithSecret {
	a := toAPIKey(k)
	return api.ApiKeyWithSecret{Id: a.Id, Name: a.Name, Scopes: a.Scopes, CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt,
		LastUsedAt: a.LastUsedAt, RotatedAt: a.RotatedAt, PreviousSecretExpiresAt: a.PreviousSecretExpiresAt,
		RateLimit: a.RateLimit, Secret: secret}
}

// keyAdmin is the key store; New makes sure there is one.
func (s *Server) keyAdmin() (KeyAdmin, error) { return s.keys, nil }

// noEscalation refuses to let the caller create, change, rotate or delete
// a key holding a scope the caller lacks: rotating such a key would hand
// the caller its powers, and deleting it would be acting above its rank.
func noEscalation(p Principal, scopes []string, verb string) error {
	if missing := missingScope(p, scopes); missing != "" {
		return insufficientScope(missing, fmt.Sprintf("the API key cannot %s a key with the scope %s, which it does not hold itself", verb, missing))
	}
	return nil
}

// audit logs a key management action by key ids only, never a secret.
func (s *Server) audit(ctx context.Context, action, keyID string) {
	p, _ := PrincipalFrom(ctx)
	s.log.LogAttrs(ctx, slog.LevelInfo, "api key "+action, slog.String("key_id", keyID),
		slog.String("by_key_id", p.KeyID), slog.String("org", p.Org), slog.String("request_id", RequestID(ctx)))
}

// CreateApiKey implements createApiKey.
func (s *Server) CreateApiKey(ctx context.Context, req gen.CreateApiKeyRequestObject) (gen.CreateApiKeyResponseObject, error) {
	keys, err := s.keyAdmin()
	if err != nil {
		return nil, err
	}
	p, _ := PrincipalFrom(ctx)
	in := store.NewAPIKey{Org: p.Org, Label: req.Body.Name, Scopes: make([]string, len(req.Body.Scopes))}
	for i, sc := range req.Body.Scopes {
		in.Scopes[i] = string(sc)
	}
	if err := noEscalation(p, in.Scopes, "create"); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var ceiling *int64 // the latest allowed expiry
	if s.cfg.MaxKeyLifetime > 0 {
		ceiling = ptr(now.Add(s.cfg.MaxKeyLifetime).UnixMilli())
	}
	if p.ExpiresAt != nil && (ceiling == nil || *p.ExpiresAt < *ceiling) {
		ceiling = p.ExpiresAt
	}
	in.ExpiresAt = ceiling
	if e := req.Body.ExpiresAt; e != nil {
		at := e.UnixMilli()
		switch {
		case ceiling != nil && at > *ceiling && ceiling == p.ExpiresAt:
			return nil, expiresAtError("must not be later than the calling key's own expiry, " + apitime.FromUnixMilli(*ceiling).String())
		case ceiling != nil && at > *ceiling:
			return nil, expiresAtError(fmt.Sprintf("must be at most %s from now (the server's maximum key lifetime)", lifetime(s.cfg.MaxKeyLifetime)))
		}
		in.ExpiresAt = &at
	}
	if rl := req.Body.RateLimit; rl != nil {
		in.RateLimit = &store.RateLimit{PerSecond: rl.PerSecond, Burst: int(rl.Burst)}
	}
	k, secret, err := keys.CreateKey(ctx, in)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, "created", k.ID)
	loc := keyLocation(k.ID)
	return gen.CreateApiKey201JSONResponse{Body: withSecret(k, secret), Headers: gen.CreateApiKey201ResponseHeaders{Location: &loc}}, nil
}

func expiresAtError(detail string) error {
	return validationError("the request is invalid: /expiresAt: "+detail, api.ProblemFieldError{Pointer: ptr("/expiresAt"), Detail: detail})
}

// lifetime writes d in days when it is whole days.
func lifetime(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// ListApiKeys implements listApiKeys.
func (s *Server) ListApiKeys(ctx context.Context, req gen.ListApiKeysRequestObject) (gen.ListApiKeysResponseObject, error) {
	keys, err := s.keyAdmin()
	if err != nil {
		return nil, err
	}
	q := store.KeyQuery{Size: 20}
	if req.Params.Size != nil {
		q.Size = int(*req.Params.Size)
	}
	if req.Params.Page != nil {
		q.Page = int(*req.Params.Page)
	}
	if req.Params.Cursor != nil {
		if q.Page != 0 {
			return nil, cursorWithPage()
		}
		q.Cursor = *req.Params.Cursor
	}
	page, err := keys.ListKeyPage(ctx, Org(ctx), q)
	if err != nil {
		return nil, err
	}
	out := api.ApiKeyPage{Content: make([]api.ApiKey, len(page.Keys)), Page: pageMetadata(page.Number, q.Size, page.Total, page.Next)}
	for i, k := range page.Keys {
		out.Content[i] = toAPIKey(k)
	}
	return gen.ListApiKeys200JSONResponse(out), nil
}

// GetApiKey implements getApiKey.
func (s *Server) GetApiKey(ctx context.Context, req gen.GetApiKeyRequestObject) (gen.GetApiKeyResponseObject, error) {
	keys, err := s.keyAdmin()
	if err != nil {
		return nil, err
	}
	k, err := keys.GetAPIKey(ctx, Org(ctx), req.KeyId)
	if err != nil {
		return nil, err
	}
	return gen.GetApiKey200JSONResponse(toAPIKey(k)), nil
}

// target returns key id of the caller's organization after checking that
// the caller may act on it.
func (s *Server) target(ctx context.Context, keys KeyAdmin, id, verb string) error {
	k, err := keys.GetAPIKey(ctx, Org(ctx), id)
	if err != nil {
		return err
	}
	p, _ := PrincipalFrom(ctx)
	return noEscalation(p, k.Scopes, verb)
}

// UpdateApiKey implements updateApiKey.
func (s *Server) UpdateApiKey(ctx context.Context, req gen.UpdateApiKeyRequestObject) (gen.UpdateApiKeyResponseObject, error) {
	keys, err := s.keyAdmin()
	if err != nil {
		return nil, err
	}
	body := req.ApplicationMergePatchPlusJSONBody
	if body == nil {
		body = req.JSONBody
	}
	if body == nil {
		return nil, newError(http.StatusUnsupportedMediaType, api.UNSUPPORTEDMEDIATYPE,
			"unsupported Content-Type; send application/merge-patch+json or application/json")
	}
	if err := s.target(ctx, keys, req.KeyId, "change"); err != nil {
		return nil, err
	}
	ch := store.KeyChanges{Label: body.Name}
	if body.RateLimit.IsSpecified() {
		ch.SetRateLimit = true
		if !body.RateLimit.IsNull() {
			rl := body.RateLimit.MustGet()
			ch.RateLimit = &store.RateLimit{PerSecond: rl.PerSecond, Burst: int(rl.Burst)}
		}
	}
	k, err := keys.UpdateAPIKey(ctx, Org(ctx), req.KeyId, ch)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, "changed", k.ID)
	return gen.UpdateApiKey200JSONResponse(toAPIKey(k)), nil
}

// DeleteApiKey implements deleteApiKey.
func (s *Server) DeleteApiKey(ctx context.Context, req gen.DeleteApiKeyRequestObject) (gen.DeleteApiKeyResponseObject, error) {
	keys, err := s.keyAdmin()
	if err != nil {
		return nil, err
	}
	if err := s.target(ctx, keys, req.KeyId, "delete"); err != nil {
		return nil, err
	}
	if err := keys.DeleteAPIKey(ctx, Org(ctx), req.KeyId); err != nil {
		return nil, err
	}
	s.audit(ctx, "deleted", req.KeyId)
	return gen.DeleteApiKey204Response{}, nil
}

// RotateApiKey implements rotateApiKey.
func (s *Server) RotateApiKey(ctx context.Context, req gen.RotateApiKeyRequestObject) (gen.RotateApiKeyResponseObject, error) {
	keys, err := s.keyAdmin()
	if err != nil {
		return nil, err
	}
	grace := DefaultRotationGrace
	if req.Body != nil && req.Body.GracePeriod != nil {
		grace = time.Duration(*req.Body.GracePeriod) * time.Second
	}
	if err := s.target(ctx, keys, req.KeyId, "rotate"); err != nil {
		return nil, err
	}
	k, secret, err := keys.RotateAPIKey(ctx, Org(ctx), req.KeyId, grace)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, "rotated", k.ID)
	return gen.RotateApiKey200JSONResponse(withSecret(k, secret)), nil
}
