package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// location is the canonical path of a group, whichever prefix was used.
func location(id string) string { return "/api/v2/groups/" + id }

// toAPI is the one mapping from a stored group to its wire form; every
// response that carries a group is built from its result.
func toAPI(g store.Group) api.Group {
	out := api.Group{
		Uuid:      mustUUID(g.UUID),
		Name:      g.Name,
		CreatedAt: apitime.FromUnixMilli(g.CreatedAt),
		UpdatedAt: apitime.FromUnixMilli(g.UpdatedAt),
	}
	if g.Description != nil {
		out.Description = nullable.NewNullableWithValue(*g.Description)
	} else {
		out.Description = nullable.NewNullNullable[string]()
	}
	return out
}

// toAPIPage maps a page of the store to listGroups' body.
func toAPIPage(p store.Page, size int) api.GroupPage {
	out := api.GroupPage{
		Content: make([]api.Group, len(p.Groups)),
		Page: api.PageMetadata{
			Number:        int32(p.Number),
			Size:          int32(size),
			TotalElements: p.Total,
			TotalPages:    int32((p.Total + int64(size) - 1) / int64(size)),
			Next:          nullable.NewNullNullable[string](),
		},
	}
	for i, g := range p.Groups {
		out.Content[i] = toAPI(g)
	}
	if p.Next != "" {
		out.Page.Next = nullable.NewNullableWithValue(p.Next)
	}
	return out
}

func fromNullable(n nullable.Nullable[string]) *string {
	if !n.IsSpecified() || n.IsNull() {
		return nil
	}
	v := n.MustGet()
	return &v
}

func (s *Server) preconditionRequired(h *string) error {
	if s.cfg.RequireIfMatch && (h == nil || strings.TrimSpace(*h) == "") {
		return newError(http.StatusPreconditionRequired, api.PRECONDITIONREQUIRED,
			"this server requires If-Match on writes: GET the group and send its ETag")
	}
	return nil
}

// checkName applies the one name rule the spec cannot express: what remains
// after trimming Unicode whitespace must not be empty.
func checkName(name string) error {
	if _, err := store.CleanName(name); err != nil {
		return validationError("the request is invalid: /name: must not be blank",
			api.ProblemFieldError{Pointer: ptr("/name"), Detail: "must not be blank"})
	}
	return nil
}

// ListGroups implements listGroups.
func (s *Server) ListGroups(ctx context.Context, req gen.ListGroupsRequestObject) (gen.ListGroupsResponseObject, error) {
	p := req.Params
	lq := store.ListQuery{Size: 20}
	if p.Size != nil {
		lq.Size = int(*p.Size)
	}
	if p.Page != nil {
		lq.Page = int(*p.Page)
	}
	if p.Q != nil {
		lq.Q = *p.Q
	}
	if p.Cursor != nil {
		if lq.Page != 0 {
			return nil, validationError("cursor and a non-zero page cannot be combined",
				api.ProblemFieldError{Parameter: ptr("page"), Detail: "must be absent or 0 when cursor is given"})
		}
		lq.Cursor = *p.Cursor
	}
	if p.Sort != nil {
		seen := map[store.SortField]bool{}
		for _, raw := range *p.Sort {
			field, dir, _ := strings.Cut(raw, ",")
			f := store.SortField(field)
			if seen[f] {
				return nil, validationError("each sort property may appear once",
					api.ProblemFieldError{Parameter: ptr("sort"), Detail: fmt.Sprintf("%s appears more than once", field)})
			}
			seen[f] = true
			lq.Sort = append(lq.Sort, store.Sort{Field: f, Desc: dir == "desc"})
		}
	}
	page, err := s.store.ListGroups(ctx, Org(ctx), lq)
	if errors.Is(err, store.ErrInvalid) {
		return nil, validationError(storeDetail(err), api.ProblemFieldError{Parameter: ptr("cursor"), Detail: storeDetail(err)})
	}
	if err != nil {
		return nil, err
	}
	return pageResponse{toAPIPage(page, lq.Size)}, nil
}

// GetGroup implements getGroup.
func (s *Server) GetGroup(ctx context.Context, req gen.GetGroupRequestObject) (gen.GetGroupResponseObject, error) {
	g, err := s.store.GetGroup(ctx, Org(ctx), req.Uuid.String())
	if err != nil {
		return nil, err
	}
	tag := etag(g.Version)
	if noneMatch(req.Params.IfNoneMatch, g.Version) {
		return gen.GetGroup304Response{Headers: gen.GetGroup304ResponseHeaders{ETag: &tag}}, nil
	}
	return groupResponse{g: toAPI(g), etag: tag}, nil
}

// CreateGroup implements createGroup.
func (s *Server) CreateGroup(ctx context.Context, req gen.CreateGroupRequestObject) (gen.CreateGroupResponseObject, error) {
	if err := checkName(req.Body.Name); err != nil {
		return nil, err
	}
	in := store.NewGroup{Name: req.Body.Name, Description: fromNullable(req.Body.Description)}
	if req.Params.IdempotencyKey != nil {
		return s.createIdempotent(ctx, *req.Params.IdempotencyKey, in)
	}
	g, err := s.store.CreateGroup(ctx, Org(ctx), in)
	if err != nil {
		return nil, err
	}
	return groupResponse{g: toAPI(g), etag: etag(g.Version), location: location(g.UUID)}, nil
}

// createIdempotent runs a create at most once per Idempotency-Key and
// replays the stored outcome, byte for byte, to retries.
func (s *Server) createIdempotent(ctx context.Context, key string, in store.NewGroup) (gen.CreateGroupResponseObject, error) {
	instance, _ := ctx.Value(instanceKey).(string)
	render := func(g store.Group, err error) (store.Outcome, bool) {
		if err == nil {
			body, _ := json.Marshal(toAPI(g))
			return store.Outcome{Status: http.StatusCreated, Body: append(body, '\n'),
				Location: location(g.UUID), ETag: etag(g.Version)}, true
		}
		if errors.Is(err, store.ErrNameTaken) {
			ae := toProblem(err)
			p := api.Problem{Type: problemType(ae.code), Title: http.StatusText(ae.status), Status: int32(ae.status),
				Detail: ae.detail, Instance: instance, Code: ae.code, RequestId: RequestID(ctx)}
			body, _ := json.Marshal(p)
			return store.Outcome{Status: ae.status, Body: append(body, '\n')}, true
		}
		return store.Outcome{}, false
	}
	out, replayed, err := s.store.CreateGroupIdempotent(ctx, Org(ctx), key, fingerprint(in), in, render)
	if err != nil {
		return nil, err
	}
	return storedResponse{out: out, replayed: replayed}, nil
}

// fingerprint identifies a create request's content for Idempotency-Key
// reuse checks: equal JSON values give equal fingerprints, whatever their
// spacing or property order.
func fingerprint(in store.NewGroup) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%q\x00", in.Name)
	if in.Description != nil {
		fmt.Fprintf(h, "%q", *in.Description)
	} else {
		h.Write([]byte("null"))
	}
	return h.Sum(nil)
}

// storedResponse writes an idempotency outcome exactly as it was stored.
type storedResponse struct {
	out      store.Outcome
	replayed bool
}

func (r storedResponse) VisitCreateGroupResponse(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if r.out.Status >= 400 {
		setProblemHeaders(h)
	}
	if r.out.Location != "" {
		h.Set("Location", r.out.Location)
	}
	if r.out.ETag != "" {
		h.Set("ETag", r.out.ETag)
	}
	if r.replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(r.out.Status)
	_, err := bytes.NewReader(r.out.Body).WriteTo(w)
	return err
}

// UpdateGroup implements updateGroup (JSON merge patch).
func (s *Server) UpdateGroup(ctx context.Context, req gen.UpdateGroupRequestObject) (gen.UpdateGroupResponseObject, error) {
	if err := s.preconditionRequired(req.Params.IfMatch); err != nil {
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
	if body.Name != nil {
		if err := checkName(*body.Name); err != nil {
			return nil, err
		}
	}
	ch := store.Changes{Name: body.Name}
	if body.Description.IsSpecified() {
		ch.SetDescription = true
		ch.Description = fromNullable(body.Description)
	}
	g, err := s.store.UpdateGroup(ctx, Org(ctx), req.Uuid.String(), ch, ifMatch(req.Params.IfMatch))
	if err != nil {
		return nil, err
	}
	return groupResponse{g: toAPI(g), etag: etag(g.Version)}, nil
}

// ReplaceGroup implements replaceGroup.
func (s *Server) ReplaceGroup(ctx context.Context, req gen.ReplaceGroupRequestObject) (gen.ReplaceGroupResponseObject, error) {
	if err := s.preconditionRequired(req.Params.IfMatch); err != nil {
		return nil, err
	}
	b := req.Body
	if err := checkName(b.Name); err != nil {
		return nil, err
	}
	ch := store.Changes{Name: &b.Name, SetDescription: true, Description: fromNullable(b.Description)}
	g, err := s.store.UpdateGroup(ctx, Org(ctx), b.Uuid.String(), ch, ifMatch(req.Params.IfMatch))
	if err != nil {
		return nil, err
	}
	return groupResponse{g: toAPI(g), etag: etag(g.Version)}, nil
}

// DeleteGroup implements deleteGroup.
func (s *Server) DeleteGroup(ctx context.Context, req gen.DeleteGroupRequestObject) (gen.DeleteGroupResponseObject, error) {
	if err := s.preconditionRequired(req.Params.IfMatch); err != nil {
		return nil, err
	}
	if err := s.store.DeleteGroup(ctx, Org(ctx), req.Uuid.String(), ifMatch(req.Params.IfMatch)); err != nil {
		return nil, err
	}
	return gen.DeleteGroup204Response{}, nil
}

func mustUUID(s string) (u openapi_types.UUID) {
	_ = u.UnmarshalText([]byte(s))
	return u
}
