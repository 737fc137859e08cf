-- The delivery log was half of the bytes stored per message (issue 15, scripts/soak):
-- new rows keep the raw body deflate-compressed in `packed_body` (about half the size)
-- and an empty `raw_body`. Rows written before keep their text body and are read as
-- they are, so upgrading loses no delivery. (BYTEA: PostgreSQL's bytes; SQLite stores
-- the blob as given.)
ALTER TABLE webhook_deliveries ADD COLUMN packed_body BYTEA;
