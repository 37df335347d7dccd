package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// Default membership limits (Options.MaxMembersPerGroup, MaxGroupsPerUser).
const (
	DefaultMaxMembersPerGroup = 100_000
	DefaultMaxGroupsPerUser   = 1_000
)

// Member is a user's membership of a group. UserID is the caller's opaque,
// case-sensitive identifier; users belong to the organization of the key,
// so the same UserID in two organizations is two unrelated users.
type Member struct {
	UserID string
	// AddedAt is when the user was added, Unix milliseconds.
	AddedAt int64
}

// MemberQuery selects one page of a group's members, ordered by UserID in
// byte order.
type MemberQuery struct {
	// Size is the page size (at least 1).
	Size int
	// Page is the zero-based offset page; ignored when Cursor is set.
	Page int
	// Cursor is a MemberPage.Next from an earlier call for the same group.
	Cursor string
}

// MemberPage is one page of members with the group's member count.
type MemberPage struct {
	Members []Member
	Number  int
	Total   int64
	// Next is the cursor of the following page, "" on the last page.
	Next string
}

// MembersChange is the input of ChangeMembers: users to add and to remove.
// The caller guarantees that no id appears twice or in both lists.
type MembersChange struct {
	Add, Remove []string
}

// MembersResult says where each id of a MembersChange went, in the order
// sent: every id is in exactly one list.
type MembersResult struct {
	Added, AlreadyMembers, Removed, NotMembers []string
}

// LimitKind names a membership limit.
type LimitKind string

// The membership limits.
const (
	LimitMembersPerGroup LimitKind = "members per group"
	LimitGroupsPerUser   LimitKind = "groups per user"
)

// ErrLimitExceeded means a write would pass a membership limit. *LimitError
// matches it.
var ErrLimitExceeded = errors.New("membership limit exceeded")

// LimitError says that a write would pass the limit Kind of Max; UserID
// names the user for LimitGroupsPerUser. Nothing was changed.
type LimitError struct {
	Kind   LimitKind
	Max    int
	UserID string
}

func (e *LimitError) Error() string {
	if e.Kind == LimitGroupsPerUser {
		return fmt.Sprintf("user %s would belong to more than %d groups", e.UserID, e.Max)
	}
	return fmt.Sprintf("the group would have more than %d members", e.Max)
}

// Is makes errors.Is(err, ErrLimitExceeded) hold.
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

// AddMember adds userID to the group id of org. It reports created=false,
// and the original membership, when the user already was a member (nothing
// changes then). A new membership changes the group's member count,
// updated_at and version in the same transaction. Returns *NotFoundError
// (Kind "group") if org has no such group, *LimitError if the group or the
// user is at its limit, *ArchivedError if the group is archived.
func (db *DB) AddMember(ctx context.Context, org, id, userID string) (m Member, created bool, err error) {
	id = canonicalUUID(id)
	err = db.write(ctx, func(gtx *gorm.DB) error {
		m, created = Member{}, false
		tx := db.raw(ctx, gtx)
		count, groupCreated, err := tx.lockGroup(org, id)
		if err != nil {
			return err
		}
		if err := tx.lockUsers(org, []string{userID}); err != nil {
			return err
		}
		// One scan of the user's memberships answers both "already in this
		// group?" and "how many groups?". It reads only columns of the
		// members_user index: asking for added_at here would make SQLite
		// scan the organization's memberships by primary key instead.
		var groups, member int64
		if err := tx.queryRow(`SELECT COUNT(*), COALESCE(MAX(CASE WHEN group_uuid = ? THEN 1 ELSE 0 END), 0)
			FROM members WHERE org = ? AND user_id = ?`, []any{id, org, userID}, &groups, &member); err != nil {
			return err
		}
		if member == 1 {
			var at int64
			if err := tx.queryRow(`SELECT added_at FROM members WHERE org = ? AND group_uuid = ? AND user_id = ?`,
				[]any{org, id, userID}, &at); err != nil {
				return err
			}
			m = Member{UserID: userID, AddedAt: at}
			return nil
		}
		if count >= int64(db.limits.MaxMembersPerGroup) {
			return &LimitError{Kind: LimitMembersPerGroup, Max: db.limits.MaxMembersPerGroup}
		}
		if groups >= int64(db.limits.MaxGroupsPerUser) {
			return &LimitError{Kind: LimitGroupsPerUser, Max: db.limits.MaxGroupsPerUser, UserID: userID}
		}
		now := db.nowMillis()
		if _, err := tx.exec(`INSERT INTO members (org, group_uuid, user_id, added_at, group_created_at) VALUES (?, ?, ?, ?, ?)`,
			org, id, userID, now, groupCreated); err != nil {
			return err
		}
		if err := tx.touchGroup(org, id, count+1, now); err != nil {
			return err
		}
		m, created = Member{UserID: userID, AddedAt: now}, true
		return nil
	})
	return m, created, err
}

// GetMember returns the membership of userID in the group id of org.
// Returns *NotFoundError with Kind "member" if the group exists but the
// user is not in it, Kind "group" if org has no such group.
func (db *DB) GetMember(ctx context.Context, org, id, userID string) (Member, error) {
	id = canonicalUUID(id)
	var at int64
	// The join keeps a trashed group's memberships out of sight.
	err := db.rsql.QueryRowContext(ctx, db.bind(`SELECT m.added_at FROM members m JOIN groups g ON g.org = m.org AND g.uuid = m.group_uuid
		WHERE m.org = ? AND m.group_uuid = ? AND m.user_id = ?`),
		org, id, userID).Scan(&at)
	if err == nil {
		return Member{UserID: userID, AddedAt: at}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Member{}, translate(err)
	}
	if _, err := db.GetGroup(ctx, org, id); err != nil {
		return Member{}, err
	}
	return Member{}, &NotFoundError{Kind: "member", ID: userID}
}

// RemoveMember removes userID from the group id of org; removing a user who
// is not a member changes nothing and is not an error. A removal changes the
// group's member count, updated_at and version in the same transaction.
// Returns *NotFoundError (Kind "group") if org has no such group,
// *ArchivedError if it is archived.
func (db *DB) RemoveMember(ctx context.Context, org, id, userID string) error {
	id = canonicalUUID(id)
	return db.write(ctx, func(gtx *gorm.DB) error {
		tx := db.raw(ctx, gtx)
		count, _, err := tx.lockGroup(org, id)
		if err != nil {
			return err
		}
		n, err := tx.exec(`DELETE FROM members WHERE org = ? AND group_uuid = ? AND user_id = ?`, org, id, userID)
		if err != nil || n == 0 {
			return err
		}
		return tx.touchGroup(org, id, count-n, db.nowMillis())
	})
}

// ChangeMembers adds ch.Add and removes ch.Remove from the group id of org,
// all or nothing, in one transaction, and reports where each id went. When
// anything changed, the group's member count, updated_at and version change
// with it. Returns *NotFoundError (Kind "group") if org has no such group,
// *LimitError (and changes nothing) if the group or a user would pass its
// limit, *ArchivedError if the group is archived.
func (db *DB) ChangeMembers(ctx context.Context, org, id string, ch MembersChange) (MembersResult, error) {
	id = canonicalUUID(id)
	var res MembersResult
	err := db.write(ctx, func(tx *gorm.DB) error {
		var err error
		res, err = db.changeMembers(db.raw(ctx, tx), org, id, ch)
		return err
	})
	return res, err
}

// changeMembers is ChangeMembers inside tx. Every check runs before the
// first write, so an error leaves tx as it was.
func (db *DB) changeMembers(tx rawTx, org, id string, ch MembersChange) (MembersResult, error) {
	count, groupCreated, err := tx.lockGroup(org, id)
	if err != nil {
		return MembersResult{}, err
	}
	if err := tx.lockUsers(org, ch.Add); err != nil {
		return MembersResult{}, err
	}
	existing := map[string]bool{}
	asked := append(slices.Clone(ch.Add), ch.Remove...)
	for chunk := range slices.Chunk(asked, 500) {
		args := append([]any{org, id}, anys(chunk)...)
		ids, err := tx.queryStrings(`SELECT user_id FROM members WHERE org = ? AND group_uuid = ? AND user_id IN (`+marks(len(chunk))+`)`, args...)
		if err != nil {
			return MembersResult{}, err
		}
		for _, u := range ids {
			existing[u] = true
		}
	}
	res := MembersResult{Added: []string{}, AlreadyMembers: []string{}, Removed: []string{}, NotMembers: []string{}}
	for _, u := range ch.Add {
		if existing[u] {
			res.AlreadyMembers = append(res.AlreadyMembers, u)
		} else {
			res.Added = append(res.Added, u)
		}
	}
	for _, u := range ch.Remove {
		if existing[u] {
			res.Removed = append(res.Removed, u)
		} else {
			res.NotMembers = append(res.NotMembers, u)
		}
	}
	newCount := count + int64(len(res.Added)) - int64(len(res.Removed))
	if len(res.Added) > 0 && newCount > int64(db.limits.MaxMembersPerGroup) {
		return MembersResult{}, &LimitError{Kind: LimitMembersPerGroup, Max: db.limits.MaxMembersPerGroup}
	}
	// The new rows are not inserted yet: a user already in Max groups is
	// refused.
	for chunk := range slices.Chunk(res.Added, 500) {
		args := append([]any{org}, anys(chunk)...)
		over, err := tx.queryStrings(`SELECT user_id FROM members WHERE org = ? AND user_id IN (`+marks(len(chunk))+`)
			GROUP BY user_id HAVING COUNT(*) >= ? ORDER BY user_id LIMIT 1`, append(args, db.limits.MaxGroupsPerUser)...)
		if err != nil {
			return MembersResult{}, err
		}
		if len(over) > 0 {
			return MembersResult{}, &LimitError{Kind: LimitGroupsPerUser, Max: db.limits.MaxGroupsPerUser, UserID: over[0]}
		}
	}
	if len(res.Added) == 0 && len(res.Removed) == 0 {
		return res, nil
	}
	now := db.nowMillis()
	for chunk := range slices.Chunk(res.Added, 500) {
		args := make([]any, 0, 5*len(chunk))
		for _, u := range chunk {
			args = append(args, org, id, u, now, groupCreated)
		}
		if _, err := tx.exec(`INSERT INTO members (org, group_uuid, user_id, added_at, group_created_at) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(chunk)), ", "), args...); err != nil {
			return MembersResult{}, err
		}
	}
	for chunk := range slices.Chunk(res.Removed, 500) {
		args := append([]any{org, id}, anys(chunk)...)
		if _, err := tx.exec(`DELETE FROM members WHERE org = ? AND group_uuid = ? AND user_id IN (`+marks(len(chunk))+`)`, args...); err != nil {
			return MembersResult{}, err
		}
	}
	return res, tx.touchGroup(org, id, newCount, now)
}

// rawTx runs membership statements on a write transaction's database/sql
// connection directly: GORM's statement building and reflection-based
// scanning cost more CPU than SQLite's own work for these small statements
// and their IN lists (addMember and changeMembers in cmd/groupsbench,
// docs/performance.md "Members").
type rawTx struct {
	db  *DB
	ctx context.Context
	c   gorm.ConnPool
}

func (db *DB) raw(ctx context.Context, tx *gorm.DB) rawTx {
	return rawTx{db: db, ctx: ctx, c: tx.Statement.ConnPool}
}

func (t rawTx) exec(q string, args ...any) (int64, error) {
	res, err := t.c.ExecContext(t.ctx, t.db.bind(q), args...)
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	return n, translate(err)
}

func (t rawTx) queryRow(q string, args []any, dest ...any) error {
	err := t.c.QueryRowContext(t.ctx, t.db.bind(q), args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return translate(err)
}

func (t rawTx) queryStrings(q string, args ...any) ([]string, error) {
	rows, err := t.c.QueryContext(t.ctx, t.db.bind(q), args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, translate(err)
		}
		out = append(out, s)
	}
	return out, translate(rows.Err())
}

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// lockGroup returns the member count and createdAt of the group id of org and, on
// Postgres, locks its row until tx ends. Every membership write takes the
// group first, then its users (lockUsers), then member rows: one order for
// all, so concurrent writes wait instead of deadlocking. Returns
// *NotFoundError (Kind "group") if org has no such group, *ArchivedError if
// it is archived (an archived group's members do not change).
func (t rawTx) lockGroup(org, id string) (count, createdAt int64, err error) {
	q := `SELECT member_count, created_at, archived_at FROM groups WHERE org = ? AND uuid = ?`
	if t.db.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var archivedAt sql.NullInt64
	err = t.queryRow(q, []any{org, id}, &count, &createdAt, &archivedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, &NotFoundError{Kind: "group", ID: id}
	}
	if err == nil && archivedAt.Valid {
		return 0, 0, &ArchivedError{ID: id}
	}
	return count, createdAt, err
}

// lockUsers serializes, on Postgres, the writes that add the users to
// groups, so that the groups-per-user limit cannot be passed by two
// transactions that each see the other's new row missing. The locks are
// transaction-scoped advisory locks taken in ascending key order. SQLite
// has one writer, which serializes them already.
func (t rawTx) lockUsers(org string, users []string) error {
	if t.db.dialect != Postgres || len(users) == 0 {
		return nil
	}
	keys := make([]int64, 0, len(users))
	for _, u := range users {
		h := fnv.New64a()
		h.Write([]byte(org))
		h.Write([]byte{0})
		h.Write([]byte(u))
		keys = append(keys, int64(h.Sum64()))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for chunk := range slices.Chunk(keys, 500) {
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		// unnest yields the array in order, and the locks are taken as the rows are produced.
		ph := strings.TrimSuffix(strings.Repeat("?::bigint, ", len(chunk)), ", ")
		if _, err := t.exec(`SELECT pg_advisory_xact_lock(k) FROM unnest(ARRAY[`+ph+`]) AS t(k)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// touchGroup sets the group's member count and marks it changed: its
// representation includes the count, so updated_at and version move too.
func (t rawTx) touchGroup(org, id string, count, now int64) error {
	_, err := t.exec(`UPDATE groups SET member_count = ?, updated_at = ?, version = version + 1
		WHERE org = ? AND uuid = ?`, count, now, org, id)
	return err
}

// ListMembers returns one page of the members of the group id of org, in
// byte order of UserID; Total is the group's member count, read in the same
// snapshot as the page. Returns *NotFoundError (Kind "group") if org has no
// such group, *InvalidError (Field "cursor") for a malformed cursor or one
// of another group.
func (db *DB) ListMembers(ctx context.Context, org, id string, q MemberQuery) (MemberPage, error) {
	id = canonicalUUID(id)
	number, offset, after := q.Page, int64(q.Page)*int64(q.Size), ""
	if q.Cursor != "" {
		c, err := decodeCursor(db.cursorKey, org, q.Cursor)
		if err != nil {
			return MemberPage{}, err
		}
		if c.Query != memberFingerprint(id) || c.UUID != id || len(c.Keys) != 1 {
			return MemberPage{}, invalid("cursor", "belongs to another list")
		}
		if err := json.Unmarshal(c.Keys[0], &after); err != nil || after == "" {
			return MemberPage{}, errMalformedCursor
		}
		number, offset = c.Page, 0
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot for the count and the page
	}
	tx, err := db.rsql.BeginTx(ctx, opts)
	if err != nil {
		return MemberPage{}, translate(err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to undo
	var total int64
	if err := tx.QueryRowContext(ctx, db.bind(`SELECT member_count FROM groups WHERE org = ? AND uuid = ?`), org, id).Scan(&total); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return MemberPage{}, &NotFoundError{Kind: "group", ID: id}
		}
		return MemberPage{}, translate(err)
	}
	query, args := `SELECT user_id, added_at FROM members WHERE org = ? AND group_uuid = ?`, []any{org, id}
	if after != "" {
		query, args = query+` AND user_id > ?`, append(args, after)
	}
	rows, err := tx.QueryContext(ctx, db.bind(query+` ORDER BY user_id LIMIT ? OFFSET ?`), append(args, q.Size+1, offset)...)
	if err != nil {
		return MemberPage{}, translate(err)
	}
	defer rows.Close()
	page := MemberPage{Number: number, Total: total, Members: make([]Member, 0, min(q.Size, 128))}
	more := false
	for rows.Next() {
		if len(page.Members) == q.Size {
			more = true
			break
		}
		var m Member
		if err := rows.Scan(&m.UserID, &m.AddedAt); err != nil {
			return MemberPage{}, translate(err)
		}
		page.Members = append(page.Members, m)
	}
	if err := rows.Err(); err != nil {
		return MemberPage{}, translate(err)
	}
	if more {
		last, _ := json.Marshal(page.Members[len(page.Members)-1].UserID)
		page.Next = encodeCursor(db.cursorKey, org, cursor{Keys: []json.RawMessage{last}, UUID: id, Page: number + 1, Query: memberFingerprint(id)})
	}
	return page, nil
}

// memberFingerprint binds a members cursor to its group.
func memberFingerprint(id string) string { return queryFingerprint(nil, "members\x00"+id) }

// ListUserGroups returns one page of the groups of org that userID belongs
// to, with ListGroups' sort, search and paging rules. A user in no group
// gets an empty page. Returns *InvalidError (Field "cursor") for a
// malformed cursor or one of another list.
func (db *DB) ListUserGroups(ctx context.Context, org, userID string, lq ListQuery) (Page, error) {
	pq, err := newPageQuery(db.cursorKey, org, lq, userID)
	if err != nil {
		return Page{}, err
	}
	rows, total, err := db.pageRows(ctx, db.rsql, pq)
	if err != nil {
		return Page{}, err
	}
	return pq.page(rows, total), nil
}

// IdempotentChange is the input of ChangeMembersIdempotent.
type IdempotentChange struct {
	// Key is the client's idempotency key; keys are per organization and
	// shared with group creation.
	Key string
	// Fingerprint identifies the request's content (including the operation
	// and the group): a retry with the same Key must bring the same one.
	Fingerprint []byte
	// Meta is opaque to the store and returned with every replay.
	Meta    []byte
	GroupID string
	Change  MembersChange
}

// ChangeOutcome is the recorded outcome of an idempotent membership change:
// the result, or Err, the *LimitError that refused it (an outcome, so a
// retry gets the same answer).
type ChangeOutcome struct {
	Result MembersResult
	Err    error
	// Meta is IdempotentChange.Meta of the call that recorded the outcome.
	Meta []byte
	// Replayed says the outcome was recorded by an earlier call.
	Replayed bool
}

// The outcome kinds of a membership change's idempotency record.
const (
	outcomeMembersChanged = "members_changed"
	outcomeLimitExceeded  = "limit_exceeded"
)

// ChangeMembersIdempotent runs ChangeMembers at most once per (org, in.Key)
// and records its outcome in the same transaction; a later call with the
// same fingerprint gets the recorded outcome with Replayed set. Returns
// ErrIdempotencyMismatch (wrapped) if the key was used with another
// fingerprint, ErrIdempotencyInFlight (wrapped) while the first call is
// unfinished, and, releasing the key, *NotFoundError or a database failure.
func (db *DB) ChangeMembersIdempotent(ctx context.Context, org string, in IdempotentChange) (ChangeOutcome, error) {
	id := canonicalUUID(in.GroupID)
	claimed, err := db.claimKey(ctx, org, in.Key, in.Fingerprint)
	if err != nil {
		return ChangeOutcome{}, err
	}
	if !claimed {
		row, err := db.recordedRow(ctx, org, in.Key, in.Fingerprint)
		if err != nil {
			return ChangeOutcome{}, err
		}
		out := ChangeOutcome{Meta: row.Meta, Replayed: true}
		switch kind := deref(row.Outcome); kind {
		case outcomeMembersChanged:
			err = json.Unmarshal(row.Record, &out.Result)
		case outcomeLimitExceeded:
			var le LimitError
			err = json.Unmarshal(row.Record, &le)
			out.Err = &le
		default:
			err = fmt.Errorf("store: idempotency key %q holds a %q outcome, not a membership change", in.Key, kind)
		}
		if err != nil {
			return ChangeOutcome{}, err
		}
		return out, nil
	}
	out := ChangeOutcome{Meta: in.Meta}
	err = db.write(ctx, func(tx *gorm.DB) error {
		out.Result, out.Err = MembersResult{}, nil
		res, err := db.changeMembers(db.raw(ctx, tx), org, id, in.Change)
		var le *LimitError
		kind, rec := outcomeMembersChanged, any(res)
		switch {
		case errors.As(err, &le):
			out.Err, kind, rec = le, outcomeLimitExceeded, le
		case err != nil:
			return err
		default:
			out.Result = res
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return finishKey(tx, org, in.Key, kind, b, in.Meta)
	})
	if err != nil {
		db.releaseClaim(ctx, org, in.Key)
		return ChangeOutcome{}, err
	}
	return out, nil
}
