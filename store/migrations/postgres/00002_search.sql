-- +goose Up
-- Name search (q) through a pg_trgm GIN index on name_key instead of a scan
-- of every name of the organization; queries use LIKE '%fragment%' (with
-- % _ \ escaped) for fragments of three or more characters.
--
-- The extension lives in public, whatever this schema's search_path: one
-- database may hold many schemas of groupsd (tests use one per test), they
-- all share the one extension, and DROP SCHEMA ... CASCADE of any of them
-- drops only its own index, never the extension. The operator class is
-- therefore qualified. IF NOT EXISTS makes this a no-op where the extension
-- is already installed (an operator may pre-install it when the migrating
-- role may not create extensions; pg_trgm is trusted since PostgreSQL 13).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX groups_name_key_trgm ON groups USING gin (name_key public.gin_trgm_ops);

-- +goose Down
DROP INDEX groups_name_key_trgm;
