package client

import (
	"context"
	"iter"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/gen/api"
)

// Reference is another system's registered dependency on a group (an
// approval chain, a budget, a card policy): while a group has one, it
// cannot be deleted.
type Reference struct {
	// ID is the caller's own id of the reference, unique within its group
	// (1 to 255 characters from [A-Za-z0-9._:-], starting with a letter or
	// digit; case-sensitive).
	ID string
	// Kind says what refers to the group, in the caller's vocabulary
	// ("approval-chain", "budget", ...): lower case letters, digits, "-".
	Kind string
	// DisplayName is shown to people, in ErrGroupInUse problems too.
	DisplayName string
	// URL is an optional absolute https URL where a person can see the
	// referring thing; empty when none was given.
	URL string
	// CreatedAt and UpdatedAt are UTC with millisecond precision.
	CreatedAt, UpdatedAt time.Time
}

// ReferenceListOptions shape a listing of references. The zero value lists
// every reference in byte order of its id.
type ReferenceListOptions struct {
	// PageSize is how many references one request fetches (1 to 1000; 0
	// means the server's default of 20).
	PageSize int
}

// ReferenceService holds the reference operations; use it as
// Client.References.
type ReferenceService struct{ c *Client }

// Put registers the reference r under r.ID on the group, or replaces the
// one with that id (then CreatedAt is kept). created is true when it is
// new. A retried Put whose first attempt landed unanswered reports false.
// Archived groups take references too. Errors: ErrNotFound (no such
// group), ErrValidation.
func (s *ReferenceService) Put(ctx context.Context, group uuid.UUID, r Reference) (ref Reference, created bool, err error) {
	body := api.ReferenceInput{Kind: r.Kind, DisplayName: r.DisplayName}
	if r.URL != "" {
		body.Url = &r.URL
	}
	resp, err := s.c.api.PutReferenceWithResponse(ctx, group, r.ID, body)
	if err != nil {
		return Reference{}, false, failed("put reference", err)
	}
	switch {
	case resp.JSON201 != nil:
		return fromAPIReference(*resp.JSON201), true, nil
	case resp.JSON200 != nil:
		return fromAPIReference(*resp.JSON200), false, nil
	}
	return Reference{}, false, newError(resp.HTTPResponse, resp.Body)
}

// Get returns one reference of the group. Errors: ErrReferenceNotFound
// (the group exists, the reference does not), ErrNotFound (no such group).
func (s *ReferenceService) Get(ctx context.Context, group uuid.UUID, id string) (Reference, error) {
	resp, err := s.c.api.GetReferenceWithResponse(ctx, group, id)
	if err != nil {
		return Reference{}, failed("get reference", err)
	}
	if resp.JSON200 == nil {
		return Reference{}, newError(resp.HTTPResponse, resp.Body)
	}
	return fromAPIReference(*resp.JSON200), nil
}

// Delete removes the reference; removing one that does not exist is a
// success. Errors: ErrNotFound (no such group), ErrValidation.
func (s *ReferenceService) Delete(ctx context.Context, group uuid.UUID, id string) error {
	resp, err := s.c.api.DeleteReferenceWithResponse(ctx, group, id)
	if err != nil {
		return failed("delete reference", err)
	}
	if resp.StatusCode() != http.StatusNoContent {
		return newError(resp.HTTPResponse, resp.Body)
	}
	return nil
}

// List yields every reference of the group in byte order of its id,
// following the cursors to the end. An error (ErrNotFound for no such
// group) ends the sequence after being yielded once.
func (s *ReferenceService) List(ctx context.Context, group uuid.UUID, opts ReferenceListOptions) iter.Seq2[Reference, error] {
	return func(yield func(Reference, error) bool) {
		var params api.ListReferencesParams
		if opts.PageSize != 0 {
			size := int32(opts.PageSize)
			params.Size = &size
		}
		for {
			resp, err := s.c.api.ListReferencesWithResponse(ctx, group, &params)
			if err != nil {
				yield(Reference{}, failed("list references", err))
				return
			}
			if resp.JSON200 == nil {
				yield(Reference{}, newError(resp.HTTPResponse, resp.Body))
				return
			}
			for _, r := range resp.JSON200.Content {
				if !yield(fromAPIReference(r), nil) {
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

func fromAPIReference(r api.Reference) Reference {
	out := Reference{ID: r.ReferenceId, Kind: r.Kind, DisplayName: r.DisplayName, CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time}
	if r.Url != nil {
		out.URL = *r.Url
	}
	return out
}

func fromAPIReferences(rs []api.Reference) []Reference {
	out := make([]Reference, len(rs))
	for i, r := range rs {
		out[i] = fromAPIReference(r)
	}
	return out
}
