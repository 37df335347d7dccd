package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// MemberStore is what the member handlers need from the store.
type MemberStore interface {
	AddMember(ctx context.Context, org, groupID, userID string) (m store.Member, created bool, err error)
	GetMember(ctx context.Context, org, groupID, userID string) (store.Member, error)
	RemoveMember(ctx context.Context, org, groupID, userID string) error
	ListMembers(ctx context.Context, org, groupID string, q store.MemberQuery) (store.MemberPage, error)
	ChangeMembers(ctx context.Context, org, groupID string, ch store.MembersChange) (store.MembersResult, error)
	ChangeMembersIdempotent(ctx context.Context, org string, in store.IdempotentChange) (store.ChangeOutcome, error)
	ListUserGroups(ctx context.Context, org, userID string, q store.ListQuery) (store.Page, error)
}

func memberLocation(groupID, userID string) string {
	return location(groupID) + "/members/" + userID
}

// toAPIMember is the one mapping from a stored membership to its wire form.
func toAPIMember(m store.Member) api.Member {
	return api.Member{UserId: m.UserID, AddedAt: apitime.FromUnixMilli(m.AddedAt)}
}

func toAPIMemberPage(p store.MemberPage, size int) api.MemberPage {
	out := api.MemberPage{
		Content: make([]api.Member, len(p.Members)),
		Page:    pageMetadata(p.Number, size, p.Total, p.Next),
	}
	for i, m := range p.Members {
		out.Content[i] = toAPIMember(m)
	}
	return out
}

func pageMetadata(number, size int, total int64, next string) api.PageMetadata {
	m := api.PageMetadata{
		Number:        int32(number),
		Size:          int32(size),
		TotalElements: total,
		TotalPages:    int32((total + int64(size) - 1) / int64(size)),
		Next:          nullString,
	}
	if next != "" {
		m.Next = nullable.NewNullableWithValue(next)
	}
	return m
}

func toAPIChangeResult(r store.MembersResult) api.MembersChangeResult {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return api.MembersChangeResult{Added: nonNil(r.Added), AlreadyMembers: nonNil(r.AlreadyMembers),
		Removed: nonNil(r.Removed), NotMembers: nonNil(r.NotMembers)}
}

// AddMember implements addMember.
func (s *Server) AddMember(ctx context.Context, req gen.AddMemberRequestObject) (gen.AddMemberResponseObject, error) {
	id := req.Uuid.String()
	m, created, err := s.members.AddMember(ctx, Org(ctx), id, req.UserId)
	if err != nil {
		return nil, err
	}
	if created {
		loc := memberLocation(id, m.UserID)
		return gen.AddMember201JSONResponse{Body: toAPIMember(m), Headers: gen.AddMember201ResponseHeaders{Location: &loc}}, nil
	}
	return gen.AddMember200JSONResponse(toAPIMember(m)), nil
}

// GetMember implements getMember.
func (s *Server) GetMember(ctx context.Context, req gen.GetMemberRequestObject) (gen.GetMemberResponseObject, error) {
	m, err := s.members.GetMember(ctx, Org(ctx), req.Uuid.String(), req.UserId)
	if err != nil {
		return nil, err
	}
	return gen.GetMember200JSONResponse(toAPIMember(m)), nil
}

// RemoveMember implements removeMember.
func (s *Server) RemoveMember(ctx context.Context, req gen.RemoveMemberRequestObject) (gen.RemoveMemberResponseObject, error) {
	if err := s.members.RemoveMember(ctx, Org(ctx), req.Uuid.String(), req.UserId); err != nil {
		return nil, err
	}
	return gen.RemoveMember204Response{}, nil
}

// ListMembers implements listMembers.
func (s *Server) ListMembers(ctx context.Context, req gen.ListMembersRequestObject) (gen.ListMembersResponseObject, error) {
	p := req.Params
	q := store.MemberQuery{Size: 20}
	if p.Size != nil {
		q.Size = int(*p.Size)
	}
	if p.Page != nil {
		q.Page = int(*p.Page)
	}
	if p.Cursor != nil {
		if q.Page != 0 {
			return nil, cursorWithPage()
		}
		q.Cursor = *p.Cursor
	}
	page, err := s.members.ListMembers(ctx, Org(ctx), req.Uuid.String(), q)
	if err != nil {
		return nil, err
	}
	return gen.ListMembers200JSONResponse(toAPIMemberPage(page, q.Size)), nil
}

// ListUserGroups implements listUserGroups.
func (s *Server) ListUserGroups(ctx context.Context, req gen.ListUserGroupsRequestObject) (gen.ListUserGroupsResponseObject, error) {
	lq, err := listQuery(api.ListGroupsParams(req.Params))
	if err != nil {
		return nil, err
	}
	page, err := s.members.ListUserGroups(ctx, Org(ctx), req.UserId, lq)
	if err != nil {
		return nil, err
	}
	return pageResponse{toAPIPage(page, lq.Size)}, nil
}

// checkMembersChange applies the rules the schema cannot express: no id
// twice, none in both lists. Every offending id gets its own entry.
func checkMembersChange(ch store.MembersChange) error {
	var fields []api.ProblemFieldError
	seen := map[string]string{} // id -> pointer of its first occurrence
	for _, list := range []struct {
		name string
		ids  []string
	}{{"add", ch.Add}, {"remove", ch.Remove}} {
		for i, id := range list.ids {
			ptrStr := fmt.Sprintf("/%s/%d", list.name, i)
			if first, dup := seen[id]; dup {
				fields = append(fields, api.ProblemFieldError{Pointer: ptr(ptrStr),
					Detail: fmt.Sprintf("%q already appears at %s", id, first)})
				continue
			}
			seen[id] = ptrStr
		}
	}
	if len(fields) == 0 {
		return nil
	}
	detail := fmt.Sprintf("the request is invalid: %s: %s", *fields[0].Pointer, fields[0].Detail)
	if len(fields) > 1 {
		detail += fmt.Sprintf(" (and %d more)", len(fields)-1)
	}
	return validationError(detail, fields...)
}

// ChangeMembers implements changeMembers.
func (s *Server) ChangeMembers(ctx context.Context, req gen.ChangeMembersRequestObject) (gen.ChangeMembersResponseObject, error) {
	ch := store.MembersChange{}
	if req.Body.Add != nil {
		ch.Add = *req.Body.Add
	}
	if req.Body.Remove != nil {
		ch.Remove = *req.Body.Remove
	}
	if err := checkMembersChange(ch); err != nil {
		return nil, err
	}
	id := req.Uuid.String()
	if req.Params.IdempotencyKey == nil {
		res, err := s.members.ChangeMembers(ctx, Org(ctx), id, ch)
		if err != nil {
			return nil, err
		}
		return gen.ChangeMembers200JSONResponse{Body: toAPIChangeResult(res)}, nil
	}
	instance, _ := ctx.Value(instanceKey).(string)
	meta, _ := json.Marshal(replayMeta{Instance: instance, RequestID: RequestID(ctx)})
	out, err := s.members.ChangeMembersIdempotent(ctx, Org(ctx), store.IdempotentChange{
		Key: *req.Params.IdempotencyKey, Fingerprint: changeFingerprint(id, ch), Meta: meta, GroupID: id, Change: ch})
	if err != nil {
		return nil, err
	}
	if out.Err != nil {
		if !out.Replayed {
			return nil, out.Err
		}
		return nil, replayedProblem(out.Err, out.Meta)
	}
	resp := gen.ChangeMembers200JSONResponse{Body: toAPIChangeResult(out.Result)}
	if out.Replayed {
		resp.Headers.IdempotentReplayed = ptr("true")
	}
	return resp, nil
}

// changeFingerprint identifies a changeMembers request for Idempotency-Key
// reuse checks; the operation and the group are part of it, so a key reused
// for another group or another operation is a mismatch.
func changeFingerprint(groupID string, ch store.MembersChange) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "changeMembers\x00%s\x00add\x00%s\x00remove\x00%s", groupID,
		strings.Join(ch.Add, "\x00"), strings.Join(ch.Remove, "\x00"))
	return h.Sum(nil)
}

// replayedProblem renders a recorded failure as its first answer was: with
// the first request's path and id, marked as replayed.
func replayedProblem(err error, meta []byte) error {
	var m replayMeta
	_ = json.Unmarshal(meta, &m)
	ae := *toProblem(err)
	ae.instance, ae.requestID = m.Instance, m.RequestID
	ae.headers = map[string]string{"Idempotent-Replayed": "true"}
	return &ae
}

func cursorWithPage() error {
	return validationError("cursor and a non-zero page cannot be combined",
		api.ProblemFieldError{Parameter: ptr("page"), Detail: "must be absent or 0 when cursor is given"})
}
