-- +goose Up
-- Lifecycle (issue 14): archive, a trash with restore, and references that
-- guard delete.
--
-- archived_at is NULL while a group is active; reference_count is kept exact
-- in the same transaction as every reference change, like member_count.
ALTER TABLE groups ADD COLUMN archived_at INTEGER;
ALTER TABLE groups ADD COLUMN reference_count INTEGER NOT NULL DEFAULT 0;
-- archived counts the organization's archived groups, kept with n: while it
-- is 0, "active groups" is "all groups" and lists keep their whole-
-- organization paths (counts, search index, offset samples) unchanged.
ALTER TABLE group_counts ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
-- Archived groups are few: a partial index lists them without walking the
-- active ones.
CREATE INDEX groups_org_archived ON groups (org, created_at, uuid) WHERE archived_at IS NOT NULL;

-- The trash. A deleted group's row moves here in the delete's transaction,
-- so groups (its indexes, rids, search index and generation-tagged caches)
-- only ever holds live groups. Memberships and references stay in their
-- tables, keyed by the group's uuid, until the group is restored or purged.
CREATE TABLE deleted_groups (
    uuid            TEXT    NOT NULL PRIMARY KEY,
    org             TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    name_key        TEXT    NOT NULL,
    description     TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    member_count    INTEGER NOT NULL,
    archived_at     INTEGER,
    reference_count INTEGER NOT NULL,
    deleted_at      INTEGER NOT NULL,
    purge_at        INTEGER NOT NULL
);
-- listDeletedGroups' order (newest deletion first) and the purge job's scan.
CREATE INDEX deleted_groups_org_deleted ON deleted_groups (org, deleted_at DESC, uuid);
CREATE INDEX deleted_groups_purge ON deleted_groups (purge_at);

-- References other systems registered on a group. The primary key orders a
-- group's references by reference_id in byte order (listReferences).
CREATE TABLE group_references (
    org          TEXT    NOT NULL,
    group_uuid   TEXT    NOT NULL,
    reference_id TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    url          TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (org, group_uuid, reference_id)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE group_references;
DROP TABLE deleted_groups;
DROP INDEX groups_org_archived;
ALTER TABLE group_counts DROP COLUMN archived;
ALTER TABLE groups DROP COLUMN reference_count;
ALTER TABLE groups DROP COLUMN archived_at;
