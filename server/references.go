package server

import (
	"context"
	"net/url"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// ReferenceStore is what the reference handlers need from the store; its
// errors are the store's (*store.NotFoundError with Kind "group" or
// "reference", *store.InvalidError for a bad cursor, ...).
type ReferenceStore interface {
	PutReference(ctx context.Context, org, groupID, refID string, in store.ReferenceInput) (store.Reference, bool, error)
	GetReference(ctx context.Context, org, groupID, refID string) (store.Reference, error)
	DeleteReference(ctx context.Context, org, groupID, refID string) error
	ListReferences(ctx context.Context, org, groupID string, q store.PageQuery) (store.ReferencePage, error)
}

func referenceLocation(groupID, refID string) string {
	return location(groupID) + "/references/" + refID
}

// toAPIReference is the one mapping from a stored reference to its wire form.
func toAPIReference(r store.Reference) api.Reference {
	return api.Reference{ReferenceId: r.ID, Kind: r.Kind, DisplayName: r.DisplayName, Url: r.URL,
		CreatedAt: apitime.FromUnixMilli(r.CreatedAt), UpdatedAt: apitime.FromUnixMilli(r.UpdatedAt)}
}

func toAPIReferences(rs []store.Reference) []api.Reference {
	out := make([]api.Reference, len(rs))
	for i, r := range rs {
		out[i] = toAPIReference(r)
	}
	return out
}

// checkReferenceURL applies the rule the schema's pattern cannot express
// fully: url, when given, is an absolute https URL with a host.
func checkReferenceURL(raw *string) error {
	if raw == nil {
		return nil
	}
	u, err := url.Parse(*raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return validationError("the request is invalid: /url: must be an absolute https URL",
			api.ProblemFieldError{Pointer: ptr("/url"), Detail: "must be an absolute https URL"})
	}
	return nil
}

// PutReference implements putReference.
func (s *Server) PutReference(ctx context.Context, req gen.PutReferenceRequestObject) (gen.PutReferenceResponseObject, error) {
	b := req.Body
	if err := checkReferenceURL(b.Url); err != nil {
		return nil, err
	}
	id := req.Uuid.String()
	r, created, err := s.refs.PutReference(ctx, Org(ctx), id, req.ReferenceId,
		store.ReferenceInput{Kind: b.Kind, DisplayName: b.DisplayName, URL: b.Url})
	if err != nil {
		return nil, err
	}
	if created {
		loc := referenceLocation(id, r.ID)
		return gen.PutReference201JSONResponse{Body: toAPIReference(r), Headers: gen.PutReference201ResponseHeaders{Location: &loc}}, nil
	}
	return gen.PutReference200JSONResponse(toAPIReference(r)), nil
}

// GetReference implements getReference.
func (s *Server) GetReference(ctx context.Context, req gen.GetReferenceRequestObject) (gen.GetReferenceResponseObject, error) {
	r, err := s.refs.GetReference(ctx, Org(ctx), req.Uuid.String(), req.ReferenceId)
	if err != nil {
		return nil, err
	}
	return gen.GetReference200JSONResponse(toAPIReference(r)), nil
}

// DeleteReference implements deleteReference.
func (s *Server) DeleteReference(ctx context.Context, req gen.DeleteReferenceRequestObject) (gen.DeleteReferenceResponseObject, error) {
	if err := s.refs.DeleteReference(ctx, Org(ctx), req.Uuid.String(), req.ReferenceId); err != nil {
		return nil, err
	}
	return gen.DeleteReference204Response{}, nil
}

// pageQuery turns page, size and cursor into a store query.
func pageQuery(page, size *int32, cur *string) (store.PageQuery, error) {
	q := store.PageQuery{Size: 20}
	if size != nil {
		q.Size = int(*size)
	}
	if page != nil {
		q.Page = int(*page)
	}
	if cur != nil {
		if q.Page != 0 {
			return q, cursorWithPage()
		}
		q.Cursor = *cur
	}
	return q, nil
}

// ListReferences implements listReferences.
func (s *Server) ListReferences(ctx context.Context, req gen.ListReferencesRequestObject) (gen.ListReferencesResponseObject, error) {
	p := req.Params
	q, err := pageQuery(p.Page, p.Size, p.Cursor)
	if err != nil {
		return nil, err
	}
	page, err := s.refs.ListReferences(ctx, Org(ctx), req.Uuid.String(), q)
	if err != nil {
		return nil, err
	}
	return gen.ListReferences200JSONResponse{Content: toAPIReferences(page.References),
		Page: pageMetadata(page.Number, q.Size, page.Total, page.Next)}, nil
}
