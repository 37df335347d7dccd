//go:build !sqlite_fts5

package store

// The store's search index is an SQLite FTS5 table, and mattn/go-sqlite3
// compiles FTS5 into SQLite only under the sqlite_fts5 build tag. Without the
// tag a build succeeds, but the binary fails its first migration with "no
// such module: fts5" (leaving a half-migrated file), and against a database
// a tagged build made it answers 500 to every create and search. A plain
// `go build`, `go run` or `go install` must therefore fail here, at compile
// time, with an error whose identifier spells the fix: build with
// `make build`, or pass `-tags sqlite_fts5` to the go command.
var _ = build_with_tags_sqlite_fts5__run_make_build_or_go_build_tags_sqlite_fts5
