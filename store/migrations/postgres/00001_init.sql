-- +goose Up
-- Timestamps are Unix milliseconds (UTC) on every dialect: the API's precision,
-- compared and sorted as integers the same way on SQLite and Postgres.
CREATE TABLE groups (
    uuid        UUID    NOT NULL PRIMARY KEY,
    org         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    -- name_key is the NFC-normalized, Unicode case-folded name, computed in Go.
    -- COLLATE "C" sorts by code point, exactly like SQLite's BINARY.
    name_key    TEXT    COLLATE "C" NOT NULL,
    description TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    version     BIGINT  NOT NULL DEFAULT 1
);
-- Uniqueness is the database's job, so two racing creates cannot both win.
CREATE UNIQUE INDEX groups_org_name_key ON groups (org, name_key);
-- One index per sort order; DESC variants keep the uuid tie-breaker ascending.
CREATE INDEX groups_org_created ON groups (org, created_at, uuid);
CREATE INDEX groups_org_created_desc ON groups (org, created_at DESC, uuid);
CREATE INDEX groups_org_updated ON groups (org, updated_at, uuid);
CREATE INDEX groups_org_updated_desc ON groups (org, updated_at DESC, uuid);

-- Per-organization group count, maintained in the same transaction as every
-- insert and delete, so list totals never need a full COUNT(*).
CREATE TABLE group_counts (
    org TEXT   NOT NULL PRIMARY KEY,
    n   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT   NOT NULL PRIMARY KEY,
    org          TEXT   NOT NULL,
    label        TEXT   NOT NULL DEFAULT '',
    secret_hash  BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_org ON api_keys (org);

CREATE TABLE idempotency_keys (
    org         TEXT     NOT NULL,
    key         TEXT     NOT NULL,
    fingerprint BYTEA    NOT NULL,
    done        SMALLINT NOT NULL DEFAULT 0,
    status      INTEGER  NOT NULL DEFAULT 0,
    body        BYTEA,
    location    TEXT,
    etag        TEXT,
    created_at  BIGINT   NOT NULL,
    expires_at  BIGINT   NOT NULL,
    PRIMARY KEY (org, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_keys;
DROP TABLE group_counts;
DROP TABLE groups;
