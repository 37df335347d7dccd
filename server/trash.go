package server

import (
	"context"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// TrashStore is what the trash handlers need from the store; its errors are
// the store's (*store.NotFoundError with Kind "deleted group",
// *store.NameTakenError with Restoring set, ...).
type TrashStore interface {
	ListDeletedGroups(ctx context.Context, org string, q store.PageQuery) (store.DeletedPage, error)
	GetDeletedGroup(ctx context.Context, org, id string) (store.DeletedGroup, error)
	RestoreGroup(ctx context.Context, org, id string, newName *string) (store.Group, error)
	PurgeGroup(ctx context.Context, org, id string) error
}

// toAPIDeleted maps a trashed group to its wire form: the group's own
// properties come from toAPI, the one group mapping.
func toAPIDeleted(d store.DeletedGroup) api.DeletedGroup {
	g := toAPI(d.Group)
	return api.DeletedGroup{
		Uuid: g.Uuid, Name: g.Name, Description: g.Description, Status: g.Status, ArchivedAt: g.ArchivedAt,
		MemberCount: g.MemberCount, ReferenceCount: g.ReferenceCount, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt,
		DeletedAt: apitime.FromUnixMilli(d.DeletedAt), PurgeAt: apitime.FromUnixMilli(d.PurgeAt),
	}
}

// ListDeletedGroups implements listDeletedGroups.
func (s *Server) ListDeletedGroups(ctx context.Context, req gen.ListDeletedGroupsRequestObject) (gen.ListDeletedGroupsResponseObject, error) {
	p := req.Params
	q, err := pageQuery(p.Page, p.Size, p.Cursor)
	if err != nil {
		return nil, err
	}
	page, err := s.trash.ListDeletedGroups(ctx, Org(ctx), q)
	if err != nil {
		return nil, err
	}
	out := gen.ListDeletedGroups200JSONResponse{Content: make([]api.DeletedGroup, len(page.Groups)),
		Page: pageMetadata(page.Number, q.Size, page.Total, page.Next)}
	for i, d := range page.Groups {
		out.Content[i] = toAPIDeleted(d)
	}
	return out, nil
}

// GetDeletedGroup implements getDeletedGroup.
func (s *Server) GetDeletedGroup(ctx context.Context, req gen.GetDeletedGroupRequestObject) (gen.GetDeletedGroupResponseObject, error) {
	d, err := s.trash.GetDeletedGroup(ctx, Org(ctx), req.Uuid.String())
	if err != nil {
		return nil, err
	}
	return gen.GetDeletedGroup200JSONResponse(toAPIDeleted(d)), nil
}

// RestoreDeletedGroup implements restoreDeletedGroup.
func (s *Server) RestoreDeletedGroup(ctx context.Context, req gen.RestoreDeletedGroupRequestObject) (gen.RestoreDeletedGroupResponseObject, error) {
	var name *string
	if req.Body != nil && req.Body.Name != nil {
		if err := checkName(*req.Body.Name); err != nil {
			return nil, err
		}
		name = req.Body.Name
	}
	g, err := s.trash.RestoreGroup(ctx, Org(ctx), req.Uuid.String(), name)
	if err != nil {
		return nil, err
	}
	tag, loc := etag(g.Version), location(g.UUID)
	return gen.RestoreDeletedGroup200JSONResponse{Body: toAPI(g),
		Headers: gen.RestoreDeletedGroup200ResponseHeaders{ETag: &tag, Location: &loc}}, nil
}

// PurgeDeletedGroup implements purgeDeletedGroup.
func (s *Server) PurgeDeletedGroup(ctx context.Context, req gen.PurgeDeletedGroupRequestObject) (gen.PurgeDeletedGroupResponseObject, error) {
	if err := s.trash.PurgeGroup(ctx, Org(ctx), req.Uuid.String()); err != nil {
		return nil, err
	}
	return gen.PurgeDeletedGroup204Response{}, nil
}
