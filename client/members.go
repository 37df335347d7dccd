package client

import (
	"context"
	"crypto/rand"
	"iter"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/gen/api"
)

// Member is a user's membership of a group.
type Member struct {
	// UserID is the caller's own opaque, case-sensitive id of the user.
	UserID string
	// AddedAt is when the user was added (UTC, millisecond precision).
	AddedAt time.Time
}

// MembersChange is what Change needs: users to add and users to remove, at
// most 1,000 of each, no id twice and none in both lists.
type MembersChange struct {
	Add    []string
	Remove []string
	// IdempotencyKey makes the change safe to retry. Leave it empty and the
	// SDK generates one per call, used by every retry of that call. Set it
	// to retry safely across calls or processes; keys are kept for 24 hours.
	IdempotencyKey string
}

// MembersChangeResult says where each id of a Change went: every id sent is
// in exactly one list, in the order sent.
type MembersChangeResult struct {
	// Added were added; AlreadyMembers were asked to be added but already
	// were members.
	Added, AlreadyMembers []string
	// Removed were removed; NotMembers were asked to be removed but were
	// not members.
	Removed, NotMembers []string
}

// MemberListOptions shape a listing of members. The zero value lists every
// member in byte order of the user id.
type MemberListOptions struct {
	// PageSize is how many members one request fetches (1 to 1000; 0 means
	// the server's default of 20). It changes the number of round trips,
	// not what is listed.
	PageSize int
}

// MemberService holds the membership operations; use it as Client.Members.
type MemberService struct{ c *Client }

// Add puts the user in the group. created is true when the user was not a
// member before; false when it already was (then nothing changed and
// AddedAt is the original). A retry whose first attempt landed unanswered
// finds the user already there and so reports false. Errors: ErrNotFound
// (no such group), ErrValidation (a malformed user id),
// ErrMemberLimitExceeded, ErrGroupLimitExceeded.
func (s *MemberService) Add(ctx context.Context, group uuid.UUID, userID string) (m Member, created bool, err error) {
	resp, err := s.c.api.AddMemberWithResponse(ctx, group, userID)
	if err != nil {
		return Member{}, false, failed("add member", err)
	}
	switch {
	case resp.JSON201 != nil:
		return fromAPIMember(*resp.JSON201), true, nil
	case resp.JSON200 != nil:
		return fromAPIMember(*resp.JSON200), false, nil
	}
	return Member{}, false, newError(resp.HTTPResponse, resp.Body)
}

// Get returns the user's membership of the group. Errors:
// ErrMemberNotFound (the group exists, the user is not in it), ErrNotFound
// (no such group), ErrValidation.
func (s *MemberService) Get(ctx context.Context, group uuid.UUID, userID string) (Member, error) {
	resp, err := s.c.api.GetMemberWithResponse(ctx, group, userID)
	if err != nil {
		return Member{}, failed("get member", err)
	}
	if resp.JSON200 == nil {
		return Member{}, newError(resp.HTTPResponse, resp.Body)
	}
	return fromAPIMember(*resp.JSON200), nil
}

// Remove takes the user out of the group. Removing a user that is not a
// member is a success (nothing changes). Errors: ErrNotFound (no such
// group), ErrValidation.
func (s *MemberService) Remove(ctx context.Context, group uuid.UUID, userID string) error {
	resp, err := s.c.api.RemoveMemberWithResponse(ctx, group, userID)
	if err != nil {
		return failed("remove member", err)
	}
	if resp.StatusCode() != http.StatusNoContent {
		return newError(resp.HTTPResponse, resp.Body)
	}
	return nil
}

// Change adds and removes users in one all-or-nothing step. It always sends
// an Idempotency-Key, so a change retried after a dropped connection or a
// 503 is applied once and its first result returned. Errors: ErrNotFound,
// ErrValidation (an id twice or in both lists: one FieldError per id,
// pointing at it, such as "/add/3"), ErrMemberLimitExceeded,
// ErrGroupLimitExceeded (nothing changed), ErrIdempotencyKeyReused.
func (s *MemberService) Change(ctx context.Context, group uuid.UUID, ch MembersChange) (MembersChangeResult, error) {
	key := ch.IdempotencyKey
	if key == "" {
		key = rand.Text()
	}
	var body api.MembersChange
	if len(ch.Add) > 0 {
		body.Add = &ch.Add
	}
	if len(ch.Remove) > 0 {
		body.Remove = &ch.Remove
	}
	resp, err := s.c.api.ChangeMembersWithResponse(ctx, group, &api.ChangeMembersParams{IdempotencyKey: &key}, body)
	if err != nil {
		return MembersChangeResult{}, failed("change members", err)
	}
	if resp.JSON200 == nil {
		return MembersChangeResult{}, newError(resp.HTTPResponse, resp.Body)
	}
	r := resp.JSON200
	return MembersChangeResult{Added: r.Added, AlreadyMembers: r.AlreadyMembers, Removed: r.Removed, NotMembers: r.NotMembers}, nil
}

// List yields every member of the group in byte order of the user id,
// fetching pages as the loop needs them and following each page's cursor
// to the end. An error (ErrNotFound for no such group) ends the sequence
// after being yielded once.
func (s *MemberService) List(ctx context.Context, group uuid.UUID, opts MemberListOptions) iter.Seq2[Member, error] {
	return func(yield func(Member, error) bool) {
		var params api.ListMembersParams
		if opts.PageSize != 0 {
			size := int32(opts.PageSize)
			params.Size = &size
		}
		for {
			resp, err := s.c.api.ListMembersWithResponse(ctx, group, &params)
			if err != nil {
				yield(Member{}, failed("list members", err))
				return
			}
			if resp.JSON200 == nil {
				yield(Member{}, newError(resp.HTTPResponse, resp.Body))
				return
			}
			for _, m := range resp.JSON200.Content {
				if !yield(fromAPIMember(m), nil) {
					return
				}
			}
			next, err := resp.JSON200.Page.Next.Get()
			if err != nil || next == "" {
				return
			}
			params.Cursor = &next
		}
	}
}

// UserGroups yields every group the user is in that matches opts, like
// GroupService.List (same sort, query and cursor rules). A user in no group,
// or one the organization never mentioned, yields nothing.
func (s *MemberService) UserGroups(ctx context.Context, userID string, opts ListOptions) iter.Seq2[Group, error] {
	return groupPages(ctx, "list user groups", opts, func(params *api.ListGroupsParams) (*api.GroupPage, *http.Response, []byte, error) {
		resp, err := s.c.api.ListUserGroupsWithResponse(ctx, userID, (*api.ListUserGroupsParams)(params))
		if err != nil {
			return nil, nil, nil, err
		}
		return resp.JSON200, resp.HTTPResponse, resp.Body, nil
	})
}

func fromAPIMember(m api.Member) Member {
	return Member{UserID: m.UserId, AddedAt: m.AddedAt.Time}
}
