-- +goose Up
-- Name search (q) through an FTS5 trigram index instead of a scan of every
-- name of the organization.
--
-- The index is keyed by rowid, so groups gets an explicit INTEGER PRIMARY KEY
-- (rid): VACUUM may renumber implicit rowids, which would silently detach
-- the index from its rows. rid is (organization number << 40) + a per-org
-- sequence, so each organization's groups form one contiguous rowid range:
-- the index can count an organization's matches without reading any row.
-- 2^40 groups per organization and 2^23 organizations fit in a rowid.
CREATE TABLE org_rids (
    id   INTEGER PRIMARY KEY,
    org  TEXT    NOT NULL UNIQUE,
    -- last is the highest per-org sequence number handed out; deleted
    -- groups leave gaps, numbers are never reused.
    last INTEGER NOT NULL,
    -- gen grows with every committed change to the organization's groups
    -- (triggers below): results derived from its groups, such as search
    -- counts, may be reused for as long as gen is unchanged.
    gen  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO org_rids (org, last) SELECT org, count(*) FROM groups GROUP BY org ORDER BY org;

CREATE TABLE groups_v2 (
    rid         INTEGER PRIMARY KEY,
    uuid        TEXT    NOT NULL UNIQUE,
    org         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    -- name_key is the NFC-normalized, Unicode case-folded name, computed in Go.
    name_key    TEXT    NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
INSERT INTO groups_v2 (rid, uuid, org, name, name_key, description, created_at, updated_at, version)
SELECT (o.id << 40) + row_number() OVER (PARTITION BY g.org ORDER BY g.created_at, g.uuid),
       g.uuid, g.org, g.name, g.name_key, g.description, g.created_at, g.updated_at, g.version
FROM groups g JOIN org_rids o ON o.org = g.org;
DROP TABLE groups;
ALTER TABLE groups_v2 RENAME TO groups;
-- The same indexes as before (see 00001).
CREATE UNIQUE INDEX groups_org_name_key ON groups (org, name_key);
-- The default order's index also carries name_key, so a search matching
-- many names tests them from the index, reading only the rows it returns.
CREATE INDEX groups_org_created ON groups (org, created_at, uuid, name_key);
CREATE INDEX groups_org_created_desc ON groups (org, created_at DESC, uuid);
CREATE INDEX groups_org_updated ON groups (org, updated_at, uuid);
CREATE INDEX groups_org_updated_desc ON groups (org, updated_at DESC, uuid);

-- +goose StatementBegin
CREATE TRIGGER groups_gen_insert AFTER INSERT ON groups BEGIN
    UPDATE org_rids SET gen = gen + 1 WHERE org = new.org;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER groups_gen_update AFTER UPDATE ON groups BEGIN
    UPDATE org_rids SET gen = gen + 1 WHERE org = new.org;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER groups_gen_delete AFTER DELETE ON groups BEGIN
    UPDATE org_rids SET gen = gen + 1 WHERE org = old.org;
END;
-- +goose StatementEnd

-- Trigram index over name_key, external content (the text stays in groups).
-- case_sensitive 1: name_key is already folded in Go, and SQLite's folding
-- must not add matches the literal substring rule would not. detail=full
-- keeps token positions, so a quoted phrase of trigrams matches exactly the
-- names containing the fragment and counts need no row reads; detail=none
-- would be about a third smaller but cannot match phrases at all.
CREATE VIRTUAL TABLE groups_search USING fts5(
    name_key, content='groups', content_rowid='rid',
    tokenize='trigram case_sensitive 1', detail=full);
INSERT INTO groups_search (groups_search) VALUES ('rebuild');

-- +goose StatementBegin
CREATE TRIGGER groups_search_insert AFTER INSERT ON groups BEGIN
    INSERT INTO groups_search (rowid, name_key) VALUES (new.rid, new.name_key);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER groups_search_delete AFTER DELETE ON groups BEGIN
    INSERT INTO groups_search (groups_search, rowid, name_key) VALUES ('delete', old.rid, old.name_key);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER groups_search_update AFTER UPDATE OF name_key ON groups
WHEN old.name_key IS NOT new.name_key BEGIN
    INSERT INTO groups_search (groups_search, rowid, name_key) VALUES ('delete', old.rid, old.name_key);
    INSERT INTO groups_search (rowid, name_key) VALUES (new.rid, new.name_key);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER groups_gen_delete;
DROP TRIGGER groups_gen_update;
DROP TRIGGER groups_gen_insert;
DROP TRIGGER groups_search_update;
DROP TRIGGER groups_search_delete;
DROP TRIGGER groups_search_insert;
DROP TABLE groups_search;
CREATE TABLE groups_v1 (
    uuid        TEXT    NOT NULL PRIMARY KEY,
    org         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
INSERT INTO groups_v1 (uuid, org, name, name_key, description, created_at, updated_at, version)
SELECT uuid, org, name, name_key, description, created_at, updated_at, version FROM groups;
DROP TABLE groups;
ALTER TABLE groups_v1 RENAME TO groups;
CREATE UNIQUE INDEX groups_org_name_key ON groups (org, name_key);
CREATE INDEX groups_org_created ON groups (org, created_at, uuid);
CREATE INDEX groups_org_created_desc ON groups (org, created_at DESC, uuid);
CREATE INDEX groups_org_updated ON groups (org, updated_at, uuid);
CREATE INDEX groups_org_updated_desc ON groups (org, updated_at DESC, uuid);
DROP TABLE org_rids;
