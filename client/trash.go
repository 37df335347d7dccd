package client

import (
	"context"
	"iter"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/gen/api"
)

// DeletedGroup is a group in the trash: the group as it was when deleted,
// and when it was deleted and will be purged.
type DeletedGroup struct {
	// Group holds the group's properties as they were; its ETag is empty.
	Group
	// DeletedAt is when the group went to the trash.
	DeletedAt time.Time
	// PurgeAt is when the server purges it for good (it may run up to one
	// purge interval later).
	PurgeAt time.Time
}

// TrashListOptions shape a listing of the trash. The zero value lists
// every deleted group, newest deletion first.
type TrashListOptions struct {
	// PageSize is how many groups one request fetches (1 to 1000; 0 means
	// the server's default of 20).
	PageSize int
}

// RestoreOptions shape a restore. The zero value restores the group under
// its old name.
type RestoreOptions struct {
	// Name, when set, restores the group under this name instead: for when
	// its old name has been taken meanwhile (ErrNameTaken).
	Name string
}

// TrashService holds the operations on deleted groups; use it as
// Client.Trash. A deleted group is restorable until the server's trash
// retention ends (30 days by default).
type TrashService struct{ c *Client }

// List yields every group in the trash, newest deletion first, following
// the cursors to the end. An error ends the sequence after being yielded
// once.
func (s *TrashService) List(ctx context.Context, opts TrashListOptions) iter.Seq2[DeletedGroup, error] {
	return func(yield func(DeletedGroup, error) bool) {
		var params api.ListDeletedGroupsParams
		if opts.PageSize != 0 {
			size := int32(opts.PageSize)
			params.Size = &size
		}
		for {
			resp, err := s.c.api.ListDeletedGroupsWithResponse(ctx, &params)
			if err != nil {
				yield(DeletedGroup{}, failed("list deleted groups", err))
				return
			}
			if resp.JSON200 == nil {
				yield(DeletedGroup{}, newError(resp.HTTPResponse, resp.Body))
				return
			}
			for _, d := range resp.JSON200.Content {
				if !yield(fromAPIDeleted(d), nil) {
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

// Get returns the deleted group. Errors: ErrNotFound (not in the trash:
// never deleted, restored, or purged).
func (s *TrashService) Get(ctx context.Context, id uuid.UUID) (DeletedGroup, error) {
	resp, err := s.c.api.GetDeletedGroupWithResponse(ctx, id)
	if err != nil {
		return DeletedGroup{}, failed("get deleted group", err)
	}
	if resp.JSON200 == nil {
		return DeletedGroup{}, newError(resp.HTTPResponse, resp.Body)
	}
	return fromAPIDeleted(*resp.JSON200), nil
}

// Restore takes the group out of the trash with its uuid, status, members
// and references, and returns it. Errors: ErrNameTaken (its name, or
// opts.Name, is used by another group now: pass a new opts.Name; the group
// stays in the trash), ErrNotFound (not in the trash), ErrValidation.
//
// A restore is a POST without an idempotency key, so it is not retried:
// should its answer be lost, Groups.Get tells whether it landed.
func (s *TrashService) Restore(ctx context.Context, id uuid.UUID, opts RestoreOptions) (Group, error) {
	var body api.RestoreRequest
	if opts.Name != "" {
		body.Name = &opts.Name
	}
	resp, err := s.c.api.RestoreDeletedGroupWithResponse(ctx, id, body)
	if err != nil {
		return Group{}, failed("restore group", err)
	}
	if resp.JSON200 == nil {
		return Group{}, newError(resp.HTTPResponse, resp.Body)
	}
	return fromAPI(*resp.JSON200, resp.HTTPResponse.Header.Get("ETag")), nil
}

// Purge deletes the group for good, with its members and references. A
// retried purge whose first attempt landed is a success. Errors:
// ErrNotFound (not in the trash).
func (s *TrashService) Purge(ctx context.Context, id uuid.UUID) error {
	ctx, attempts := withAttemptCounter(ctx)
	resp, err := s.c.api.PurgeDeletedGroupWithResponse(ctx, id)
	if err != nil {
		return failed("purge group", err)
	}
	switch {
	case resp.StatusCode() == http.StatusNoContent:
		return nil
	case resp.StatusCode() == http.StatusNotFound && *attempts > 1:
		return nil
	}
	return newError(resp.HTTPResponse, resp.Body)
}

// fromAPIDeleted maps a trashed group through fromAPI, the one group mapping.
func fromAPIDeleted(d api.DeletedGroup) DeletedGroup {
	g := fromAPI(api.Group{Uuid: d.Uuid, Name: d.Name, Description: d.Description, Status: d.Status, ArchivedAt: d.ArchivedAt,
		MemberCount: d.MemberCount, ReferenceCount: d.ReferenceCount, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}, "")
	return DeletedGroup{Group: g, DeletedAt: d.DeletedAt.Time, PurgeAt: d.PurgeAt.Time}
}
