// Package apitest is test support for the Groups API, shared by the fuzz
// tests of package server and the fault tests of cmd/groupsd. It is imported
// only by tests.
//
// It holds:
//
//   - a reference model of one organization's groups (Model): what the API
//     acknowledged, the writes whose outcome nobody can know (in flight when
//     a process died, or answered 503), the name-uniqueness rule and the
//     first outcome of every Idempotency-Key; Model.Verify checks a live
//     server against it;
//   - a load generator (RunLoad) that drives concurrent creates, patches and
//     deletes through the generated client and records every outcome in a
//     Model;
//   - small readers of what the server returned (VersionOf, SnapshotOf,
//     ProblemCode, Check503) and a generated client constructor (NewClient).
//
// It restates no server rule: names collide by store.NameKey, and If-Match
// carries the ETag the server itself sent (Snapshot.ETag).
package apitest
