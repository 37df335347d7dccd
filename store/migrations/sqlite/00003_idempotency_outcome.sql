-- +goose Up
-- Idempotency records keep the outcome of a create in store terms instead of
-- a rendered HTTP response: outcome names the kind ('created' or
-- 'name_taken'), record holds the store's encoding of it (the group as
-- created, or the name that was taken), and meta holds the caller's opaque
-- bytes. Rows written before this migration (done = 1, outcome NULL) keep
-- their rendered status, body, location and etag and are replayed from
-- them until they expire (a day); those columns are then unused.
ALTER TABLE idempotency_keys ADD COLUMN outcome TEXT;
ALTER TABLE idempotency_keys ADD COLUMN record BLOB;
ALTER TABLE idempotency_keys ADD COLUMN meta BLOB;

-- +goose Down
-- Earlier versions can replay only rendered responses: forget the records
-- they cannot read (their keys are free again).
DELETE FROM idempotency_keys WHERE outcome IS NOT NULL;
ALTER TABLE idempotency_keys DROP COLUMN meta;
ALTER TABLE idempotency_keys DROP COLUMN record;
ALTER TABLE idempotency_keys DROP COLUMN outcome;
