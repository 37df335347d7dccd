// Package client is the Go SDK for the groupsd Groups API. It is built on
// the client generated from openapi.yaml (package gen/api, reachable via
// Client.API) and adds what every client team would otherwise write, and
// sometimes get wrong, on its own:
//
//   - errors: every error answer becomes an *Error read from the RFC 9457
//     problem, matchable with errors.Is against sentinels such as
//     ErrNotFound and ErrNameTaken; anything that is not an *Error never
//     got an answer (connection, context, decoding);
//   - paging: GroupService.List, MemberService.List,
//     MemberService.UserGroups, ReferenceService.List and TrashService.List
//     are range-over-func iterators that follow cursors to the end;
//   - retries that are safe by construction: a create always carries an
//     Idempotency-Key, the same on every retry, and so does a members
//     change; GET, PUT and DELETE are retried, PATCH only with If-Match or an
//     Idempotency-Key; waits use exponential backoff with full jitter,
//     honour Retry-After on 429 and 503, and never outlive the context;
//   - lost-update-free edits: GroupService.Update reads, modifies and writes
//     with If-Match, re-reading and re-applying on 412.
//
// Groups (Client.Groups), their members (Client.Members), their lifecycle
// (GroupService.Archive and Reactivate, the trash in Client.Trash) and the
// references that guard their deletion (Client.References) exist in the API
// today. Events (Events.Follow) and webhook signature verification will be
// added here when the API gains them.
package client
