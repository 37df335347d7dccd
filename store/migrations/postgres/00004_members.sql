-- +goose Up
-- member_count is kept exact in the same transaction as every membership
-- change, so a group never needs a COUNT(*) to show it.
ALTER TABLE groups ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;

-- One row per membership. user_id is COLLATE "C" so that the primary key
-- orders a group's members in byte order, exactly like SQLite's BINARY:
-- listMembers' order, and what its cursor seeks on.
CREATE TABLE members (
    org        TEXT   NOT NULL,
    group_uuid UUID   NOT NULL,
    user_id    TEXT   COLLATE "C" NOT NULL,
    added_at   BIGINT NOT NULL,
    -- The group's createdAt (which never changes), copied here so that a
    -- user's groups in the default order (createdAt, then uuid) are one
    -- range of members_user.
    group_created_at BIGINT NOT NULL,
    PRIMARY KEY (org, group_uuid, user_id)
);
-- A user's groups: listUserGroups and the groups-per-user limit.
CREATE INDEX members_user ON members (org, user_id, group_created_at, group_uuid);

-- +goose Down
DROP TABLE members;
ALTER TABLE groups DROP COLUMN member_count;
