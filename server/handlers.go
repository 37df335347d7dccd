package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
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
		Uuid:           mustUUID(g.UUID),
		Name:           g.Name,
		CreatedAt:      apitime.FromUnixMilli(g.CreatedAt),
		UpdatedAt:      apitime.FromUnixMilli(g.UpdatedAt),
		MemberCount:    int32(g.MemberCount),
		ReferenceCount: int32(g.ReferenceCount),
		Status:         api.GroupStatus(g.Status()),
		ArchivedAt:     nullMillis,
		Description:    nullString,
	}
	if g.ArchivedAt != 0 {
		out.ArchivedAt = nullable.NewNullableWithValue(apitime.FromUnixMilli(g.ArchivedAt))
	}
	if g.Description != nil {
		out.Description = nullable.NewNullableWithValue(*g.Description)
	}
	return out
}

// nullString and nullMillis are shared explicit nulls. A nullable.Nullable
// is a map, so each new null would be an allocation, 40 of them for a page
// of 20 groups (the list profile in docs/performance.md); sharing one is
// safe because nothing mutates them: Set and SetNull replace the map.
var (
	nullString = nullable.NewNullNullable[string]()
	nullMillis = nullable.NewNullNullable[apitime.Millis]()
)

// toAPIPage maps a page of the store to listGroups' body.
func toAPIPage(p store.Page, size int) api.GroupPage {
	out := api.GroupPage{
		Content: make([]api.Group, len(p.Groups)),
		Page:    pageMetadata(p.Number, size, p.Total, p.Next),
	}
	for i, g := range p.Groups {
		out.Content[i] = toAPI(g)
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

// listQuery turns list parameters into a store query, checking what the
// spec cannot: a cursor with a non-zero page, a sort property given twice.
func listQuery(p api.ListGroupsParams) (store.ListQuery, error) {
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
	if p.Status != nil {
		lq.Status = store.StatusFilter(*p.Status)
	}
	if p.Cursor != nil {
		if lq.Page != 0 {
			return lq, cursorWithPage()
		}
		lq.Cursor = *p.Cursor
	}
	if p.Sort != nil {
		seen := map[store.SortField]bool{}
		for _, raw := range *p.Sort {
			field, dir, _ := strings.Cut(raw, ",")
			f := store.SortField(field)
			if seen[f] {
				return lq, validationError("each sort property may appear once",
					api.ProblemFieldError{Parameter: ptr("sort"), Detail: fmt.Sprintf("%s appears more than once", field)})
			}
			seen[f] = true
			lq.Sort = append(lq.Sort, store.Sort{Field: f, Desc: dir == "desc"})
		}
	}
	return lq, nil
}

// ListGroups implements listGroups.
func (s *Server) ListGroups(ctx context.Context, req gen.ListGroupsRequestObject) (gen.ListGroupsResponseObject, error) {
	lq, err := listQuery(req.Params)
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListGroups(ctx, Org(ctx), lq)
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

// createIdempotent runs a create at most once per Idempotency-Key. The store
// records the outcome in its own terms (the group as created, or the name
// conflict); first answers and replays are rendered from it by the same
// code as a plain create, and a replay also repeats the first request's path
// and id (kept in the record's opaque Meta), so it is byte for byte the
// first answer.
func (s *Server) createIdempotent(ctx context.Context, key string, in store.NewGroup) (gen.CreateGroupResponseObject, error) {
	instance, _ := ctx.Value(instanceKey).(string)
	meta, _ := json.Marshal(replayMeta{Instance: instance, RequestID: RequestID(ctx)})
	out, err := s.store.CreateGroupIdempotent(ctx, Org(ctx), store.IdempotentCreate{
		Key: key, Fingerprint: fingerprint(in), Meta: meta, Group: in})
	if err != nil {
		return nil, err
	}
	var resp gen.CreateGroupResponseObject
	switch out.Kind {
	case store.OutcomeCreated:
		// The same response as CreateGroup's.
		resp = groupResponse{g: toAPI(out.Group), etag: etag(out.Group.Version), location: location(out.Group.UUID)}
	case store.OutcomeRendered:
		resp = storedResponse{out: *out.Rendered}
	default: // store.OutcomeNameTaken
		if !out.Replayed {
			return nil, out.Err
		}
		var m replayMeta
		_ = json.Unmarshal(out.Meta, &m)
		ae := *toProblem(out.Err)
		ae.instance, ae.requestID = m.Instance, m.RequestID
		ae.headers = map[string]string{"Idempotent-Replayed": "true"}
		return nil, &ae
	}
	if out.Replayed {
		resp = replayedResponse{resp}
	}
	return resp, nil
}

// replayMeta is what a replay needs of the first request beyond the
// outcome: the path and request id its problem body names.
type replayMeta struct {
	Instance  string `json:"instance"`
	RequestID string `json:"requestId"`
}

// replayedResponse marks a response as the replay of a recorded outcome.
type replayedResponse struct{ gen.CreateGroupResponseObject }

func (r replayedResponse) VisitCreateGroupResponse(w http.ResponseWriter) error {
	w.Header().Set("Idempotent-Replayed", "true")
	return r.CreateGroupResponseObject.VisitCreateGroupResponse(w)
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

// storedResponse writes a response rendered and recorded by a version
// before store schema 3, exactly as it was recorded.
type storedResponse struct {
	out store.RenderedResponse
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
	h.Set("Idempotent-Replayed", "true")
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
	ch := store.Changes{Name: body.Name, Status: (*store.Status)(body.Status)}
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
	ch := store.Changes{Name: &b.Name, SetDescription: true, Description: fromNullable(b.Description), Status: (*store.Status)(b.Status)}
	g, err := s.store.UpdateGroup(ctx, Org(ctx), b.Uuid.String(), ch, ifMatch(req.Params.IfMatch))
	if err != nil {
		return nil, err
	}
	return groupResponse{g: toAPI(g), etag: etag(g.Version)}, nil
}

// DeleteGroup implements deleteGroup: the group goes to the trash, or with
// dryRun=true nothing changes and the answer says what a delete would do.
func (s *Server) DeleteGroup(ctx context.Context, req gen.DeleteGroupRequestObject) (gen.DeleteGroupResponseObject, error) {
	if req.Params.DryRun != nil && *req.Params.DryRun {
		c, err := s.store.CheckDelete(ctx, Org(ctx), req.Uuid.String(), ifMatch(req.Params.IfMatch))
		if err != nil {
			return nil, err
		}
		return gen.DeleteGroup200JSONResponse{Deletable: c.Deletable, MemberCount: int32(c.MemberCount),
			TotalReferences: c.TotalReferences, References: toAPIReferences(c.References)}, nil
	}
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
