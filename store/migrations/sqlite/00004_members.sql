-- +goose Up
-- member_count is kept exact in the same transaction as every membership
-- change, so a group never needs a COUNT(*) to show it.
ALTER TABLE groups ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;

-- One row per membership. The primary key orders a group's members by
-- user_id in byte order (BINARY collation): listMembers' order, and what its
-- cursor seeks on. WITHOUT ROWID stores the rows in that order, so a page at
-- any depth is one index range scan.
CREATE TABLE members (
    org        TEXT    NOT NULL,
    group_uuid TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    added_at   INTEGER NOT NULL,
    -- The group's createdAt (which never changes), copied here so that a
    -- user's groups in the default order (createdAt, then uuid) are one
    -- range of members_user: the first page of a user in 1,000 groups reads
    -- 21 index entries, not all 1,000 groups.
    group_created_at INTEGER NOT NULL,
    PRIMARY KEY (org, group_uuid, user_id)
) WITHOUT ROWID;
-- A user's groups: listUserGroups and the groups-per-user limit.
CREATE INDEX members_user ON members (org, user_id, group_created_at, group_uuid);

-- +goose Down
DROP TABLE members;
ALTER TABLE groups DROP COLUMN member_count;
