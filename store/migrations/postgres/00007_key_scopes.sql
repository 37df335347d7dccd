-- +goose Up
-- Scopes are a space-separated list (the OAuth 2.0 "scope" syntax). Keys
-- created before scopes existed could do everything, so they keep both
-- group scopes; new keys always store their scopes explicitly.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'groups:read groups:write';
-- NULL means the key does not expire (only keys from before this migration,
-- or from a server run with --max-key-lifetime 0).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
-- Rotation keeps the previous secret's hash until prev_expires_at (the
-- grace period), so clients can switch without an outage.
ALTER TABLE api_keys ADD COLUMN rotated_at BIGINT;
ALTER TABLE api_keys ADD COLUMN prev_secret_hash BYTEA;
ALTER TABLE api_keys ADD COLUMN prev_expires_at BIGINT;
-- A per-key rate limit override; NULL takes the server's defaults.
ALTER TABLE api_keys ADD COLUMN rate_per_second DOUBLE PRECISION;
ALTER TABLE api_keys ADD COLUMN rate_burst INTEGER;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN rate_burst;
ALTER TABLE api_keys DROP COLUMN rate_per_second;
ALTER TABLE api_keys DROP COLUMN prev_expires_at;
ALTER TABLE api_keys DROP COLUMN prev_secret_hash;
ALTER TABLE api_keys DROP COLUMN rotated_at;
ALTER TABLE api_keys DROP COLUMN expires_at;
ALTER TABLE api_keys DROP COLUMN scopes;
