-- +goose Up
-- Settings every process serving this database shares, such as the key
-- that authenticates page cursors (made on first use by store.Open), so
-- cursors survive restarts and work on every replica without configuration.
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
);

-- +goose Down
DROP TABLE settings;
