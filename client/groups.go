package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/gen/api"
)

// Group is a group of the caller's organization, as the SDK hands it out:
// the wire model (api.Group) with plain Go types, and its ETag.
type Group struct {
	// UUID is assigned by the server (a UUIDv7).
	UUID uuid.UUID
	// Name is unique in the organization, compared by Unicode case folding.
	Name string
	// Description is free text, or nil.
	Description *string
	// MemberCount is the number of members, exact when the group was read.
	MemberCount int
	// Status is StatusActive or StatusArchived. An archived group keeps
	// its name, members and references but refuses changes to them
	// (ErrGroupArchived) until it is reactivated.
	Status Status
	// ArchivedAt is when the group was archived, nil while it is active.
	ArchivedAt *time.Time
	// ReferenceCount is the number of references other systems registered
	// on the group, exact when the group was read. A group with references
	// cannot be deleted (ErrGroupInUse).
	ReferenceCount int
	// CreatedAt and UpdatedAt are UTC with millisecond precision.
	CreatedAt, UpdatedAt time.Time
	// ETag is the version the group was read at. Get, Create, Replace and
	// Update fill it; List does not (a page carries no per-group ETags).
	ETag string
}

// NewGroup is what Create needs.
type NewGroup struct {
	// Name is required; leading and trailing whitespace is trimmed by the server.
	Name string
	// Description is optional.
	Description *string
	// IdempotencyKey makes the create safe to retry. Leave it empty and the
	// SDK generates one per call, used by every retry of that call. Set it
	// to retry safely across calls or processes (for example a key derived
	// from your own record's id); keys are kept for 24 hours.
	IdempotencyKey string
}

// ListOptions shape a listing. The zero value lists everything in creation order.
type ListOptions struct {
	// PageSize is how many groups one request fetches (1 to 1000; 0 means
	// the server's default of 20). It changes the number of round trips,
	// not what is listed.
	PageSize int
	// Sort holds up to three "property" or "property,asc|desc" keys, with
	// property one of name, createdAt, updatedAt. Default "createdAt,asc".
	Sort []string
	// Query keeps only groups whose name contains it, case-insensitively.
	Query string
	// Status keeps only groups with this status: StatusActive (also what
	// the zero value lists), StatusArchived, or StatusAll for both.
	Status Status
}

// Status is a group's lifecycle status; StatusAll exists only to list.
type Status string

// The lifecycle statuses.
const (
	StatusActive   Status = "ACTIVE"
	StatusArchived Status = "ARCHIVED"
	// StatusAll lists groups of either status (ListOptions.Status only).
	StatusAll Status = "ALL"
)

// GroupService holds the group operations; use it as Client.Groups.
type GroupService struct{ c *Client }

// Create creates a group. It always sends an Idempotency-Key, so a create
// retried after a dropped connection or a 503 creates one group and
// returns it. Errors: ErrNameTaken, ErrValidation, ErrIdempotencyKeyReused
// (the caller's key was used with another body).
func (s *GroupService) Create(ctx context.Context, g NewGroup) (Group, error) {
	key := g.IdempotencyKey
	if key == "" {
		key = rand.Text()
	}
	body := api.GroupCreate{Name: g.Name}
	if g.Description != nil {
		body.Description = nullable.NewNullableWithValue(*g.Description)
	}
	resp, err := s.c.api.CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &key}, body)
	if err != nil {
		return Group{}, failed("create group", err)
	}
	if resp.JSON201 == nil {
		return Group{}, newError(resp.HTTPResponse, resp.Body)
	}
	return fromAPI(*resp.JSON201, resp.HTTPResponse.Header.Get("ETag")), nil
}

// Get returns the group with this UUID. Errors: ErrNotFound.
func (s *GroupService) Get(ctx context.Context, id uuid.UUID) (Group, error) {
	resp, err := s.c.api.GetGroupWithResponse(ctx, id, nil)
	if err != nil {
		return Group{}, failed("get group", err)
	}
	if resp.JSON200 == nil {
		return Group{}, newError(resp.HTTPResponse, resp.Body)
	}
	return fromAPI(*resp.JSON200, resp.HTTPResponse.Header.Get("ETag")), nil
}

// Replace stores g's Name and Description as the group's whole new state
// (a nil Description clears it), and its Status when set (empty leaves the
// status as it is). When g.ETag is set (as it is on a group from Get), the
// replace is conditional: ErrPreconditionFailed if the group changed since.
// Errors also: ErrNotFound, ErrNameTaken, ErrValidation, ErrGroupArchived
// (a new name or description for a group that stays archived).
func (s *GroupService) Replace(ctx context.Context, g Group) (Group, error) {
	body := api.GroupReplace{Uuid: g.UUID, Name: g.Name, Description: nullable.NewNullNullable[string]()}
	if g.Description != nil {
		body.Description = nullable.NewNullableWithValue(*g.Description)
	}
	if g.Status != "" {
		st := api.GroupStatus(g.Status)
		body.Status = &st
	}
	var params api.ReplaceGroupParams
	if g.ETag != "" {
		params.IfMatch = &g.ETag
	}
	resp, err := s.c.api.ReplaceGroupWithResponse(ctx, &params, body)
	if err != nil {
		return Group{}, failed("replace group", err)
	}
	if resp.JSON200 == nil {
		return Group{}, newError(resp.HTTPResponse, resp.Body)
	}
	return fromAPI(*resp.JSON200, resp.HTTPResponse.Header.Get("ETag")), nil
}

// Delete moves the group to the trash (see TrashService: it stays
// restorable until the server's trash retention ends). A retried delete
// whose first attempt landed (the retry then finds nothing) is a success.
// Errors: ErrNotFound, ErrGroupInUse (the group has references: the
// *Error's References and TotalReferences say which; nothing changed).
func (s *GroupService) Delete(ctx context.Context, id uuid.UUID) error {
	ctx, attempts := withAttemptCounter(ctx)
	resp, err := s.c.api.DeleteGroupWithResponse(ctx, id, nil)
	if err != nil {
		return failed("delete group", err)
	}
	switch {
	case resp.StatusCode() == http.StatusNoContent:
		return nil
	case resp.StatusCode() == http.StatusNotFound && *attempts > 1:
		return nil
	}
	return newError(resp.HTTPResponse, resp.Body)
}

// DeleteCheck is what a delete of a group would do now.
type DeleteCheck struct {
	// Deletable is false when the group has references.
	Deletable bool
	// MemberCount is the number of members (they go to the trash with it).
	MemberCount int
	// TotalReferences is the number of references that keep the group from
	// being deleted; References holds the first 20 by id.
	TotalReferences int
	References      []Reference
}

// CheckDelete asks whether the group could be deleted now, changing
// nothing (deleteGroup with dryRun=true). Errors: ErrNotFound.
func (s *GroupService) CheckDelete(ctx context.Context, id uuid.UUID) (DeleteCheck, error) {
	dry := true
	resp, err := s.c.api.DeleteGroupWithResponse(ctx, id, &api.DeleteGroupParams{DryRun: &dry})
	if err != nil {
		return DeleteCheck{}, failed("check delete", err)
	}
	if resp.JSON200 == nil {
		return DeleteCheck{}, newError(resp.HTTPResponse, resp.Body)
	}
	r := resp.JSON200
	return DeleteCheck{Deletable: r.Deletable, MemberCount: int(r.MemberCount), TotalReferences: int(r.TotalReferences),
		References: fromAPIReferences(r.References)}, nil
}

// Archive archives the group: it keeps its uuid, name, members and
// references, but refuses other changes (ErrGroupArchived) until
// Reactivate. Archiving an archived group changes nothing. Like Update, it
// writes with If-Match and re-reads on a concurrent change. Errors:
// ErrNotFound, *UpdateConflictError.
func (s *GroupService) Archive(ctx context.Context, id uuid.UUID) (Group, error) {
	return s.Update(ctx, id, func(g *Group) error { g.Status = StatusArchived; return nil })
}

// Reactivate makes an archived group active again; reactivating an active
// group changes nothing. Errors as for Archive.
func (s *GroupService) Reactivate(ctx context.Context, id uuid.UUID) (Group, error) {
	return s.Update(ctx, id, func(g *Group) error { g.Status = StatusActive; return nil })
}

// List yields every group matching opts, fetching pages as the loop needs
// them and following each page's cursor to the end. Cursor paging is
// keyset paging: a group that exists for the whole listing is yielded
// exactly once even while others are created and deleted. An error ends
// the sequence after being yielded once:
//
//	for g, err := range c.Groups.List(ctx, client.ListOptions{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(g.Name)
//	}
func (s *GroupService) List(ctx context.Context, opts ListOptions) iter.Seq2[Group, error] {
	return groupPages(ctx, "list groups", opts, func(params *api.ListGroupsParams) (*api.GroupPage, *http.Response, []byte, error) {
		resp, err := s.c.api.ListGroupsWithResponse(ctx, params)
		if err != nil {
			return nil, nil, nil, err
		}
		return resp.JSON200, resp.HTTPResponse, resp.Body, nil
	})
}

// groupPages is the paging loop of every listing of groups: fetch gets one
// page (nil when the answer is an error) for the parameters built from opts,
// and the loop follows page.next to the end.
func groupPages(ctx context.Context, op string, opts ListOptions,
	fetch func(*api.ListGroupsParams) (*api.GroupPage, *http.Response, []byte, error)) iter.Seq2[Group, error] {
	return func(yield func(Group, error) bool) {
		var params api.ListGroupsParams
		if opts.PageSize != 0 {
			size := int32(opts.PageSize)
			params.Size = &size
		}
		if len(opts.Sort) > 0 {
			params.Sort = &opts.Sort
		}
		if opts.Query != "" {
			params.Q = &opts.Query
		}
		if opts.Status != "" {
			st := api.StatusFilter(opts.Status)
			params.Status = &st
		}
		for {
			page, hr, body, err := fetch(&params) //nolint:bodyclose // the generated client read and closed the body already
			if err != nil {
				yield(Group{}, failed(op, err))
				return
			}
			if page == nil {
				yield(Group{}, newError(hr, body))
				return
			}
			for _, g := range page.Content {
				if !yield(fromAPI(g, ""), nil) {
					return
				}
			}
			next, err := page.Page.Next.Get()
			if err != nil || next == "" {
				return
			}
			params.Cursor = &next
		}
	}
}

// Update reads the group, lets modify change it, and writes the changes
// back conditionally (If-Match): nobody else's change in between is lost.
// When another writer wins the race (412), Update reads again and calls
// modify again on the fresh state, up to the client's update-attempts
// bound, then returns an *UpdateConflictError. modify may thus run more
// than once and should only compute from the group it is given; an error
// from it ends Update and is returned as is. Only Name, Description and
// Status are written; when modify changes none of them, nothing is written.
// Setting Status to StatusActive together with other changes reactivates
// and changes an archived group in one write.
func (s *GroupService) Update(ctx context.Context, id uuid.UUID, modify func(*Group) error) (Group, error) {
	var (
		last *Error
		sent *Group // the state the previous round tried to write, if its PATCH was retried
	)
	for round := 1; round <= s.c.updateAttempts; round++ {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return Group{}, err
		}
		if sent != nil && sameContent(cur, *sent) {
			// The previous round's PATCH landed and only its answer was
			// lost: its retry then failed the precondition on our own change.
			return cur, nil
		}
		want := cur
		if cur.Description != nil {
			d := *cur.Description
			want.Description = &d
		}
		if err := modify(&want); err != nil {
			return Group{}, err
		}
		patch, changed := diff(cur, want)
		if !changed {
			return cur, nil
		}
		pctx, attempts := withAttemptCounter(ctx)
		resp, err := s.c.api.UpdateGroupWithApplicationMergePatchPlusJSONBodyWithResponse(pctx, id, &api.UpdateGroupParams{IfMatch: &cur.ETag}, patch)
		if err != nil {
			return Group{}, failed("update group", err)
		}
		if resp.JSON200 != nil {
			return fromAPI(*resp.JSON200, resp.HTTPResponse.Header.Get("ETag")), nil
		}
		last = newError(resp.HTTPResponse, resp.Body)
		if !errors.Is(last, ErrPreconditionFailed) {
			return Group{}, last
		}
		sent = nil
		if *attempts > 1 {
			sent = &want
		}
		s.c.log.LogAttrs(ctx, slog.LevelDebug, "groupsd: update conflict, re-reading",
			slog.String("uuid", id.String()), slog.Int("round", round))
		if err := sleep(ctx, s.c.retry.backoff(round)); err != nil {
			return Group{}, err
		}
	}
	return Group{}, &UpdateConflictError{UUID: id, Attempts: s.c.updateAttempts, Last: last}
}

// diff is the merge patch from cur to want.
func diff(cur, want Group) (api.GroupPatch, bool) {
	var p api.GroupPatch
	changed := false
	if want.Name != cur.Name {
		p.Name = &want.Name
		changed = true
	}
	switch {
	case want.Description == nil && cur.Description != nil:
		p.Description = nullable.NewNullNullable[string]()
		changed = true
	case want.Description != nil && (cur.Description == nil || *cur.Description != *want.Description):
		p.Description = nullable.NewNullableWithValue(*want.Description)
		changed = true
	}
	if want.Status != cur.Status && want.Status != "" {
		st := api.GroupStatus(want.Status)
		p.Status = &st
		changed = true
	}
	return p, changed
}

func sameContent(a, b Group) bool {
	if a.Name != b.Name || a.Status != b.Status || (a.Description == nil) != (b.Description == nil) {
		return false
	}
	return a.Description == nil || *a.Description == *b.Description
}

func fromAPI(g api.Group, etag string) Group {
	out := Group{UUID: g.Uuid, Name: g.Name, MemberCount: int(g.MemberCount), Status: Status(g.Status),
		ReferenceCount: int(g.ReferenceCount), CreatedAt: g.CreatedAt.Time, UpdatedAt: g.UpdatedAt.Time, ETag: etag}
	if d, err := g.Description.Get(); err == nil {
		out.Description = &d
	}
	if a, err := g.ArchivedAt.Get(); err == nil {
		t := a.Time
		out.ArchivedAt = &t
	}
	return out
}

// failed wraps an error that is not an answer from the API (transport,
// context, decoding), keeping it matchable with errors.Is and errors.As.
func failed(op string, err error) error {
	return fmt.Errorf("groupsd: %s: %w", op, err)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
