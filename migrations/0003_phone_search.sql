-- leadline schema, part 3: finding a lead by a fragment of its number quickly.
--
-- A number's digits without the "+" (6281234567890), for prefix searches on an index:
-- "0812 3456", "+62812…" and "812-3456" are all beginnings of it once read in the
-- workspace's region. Digit-only strings sort the same under every collation, so a
-- range on this column uses the index on both engines. NULL for business-scoped ids.
ALTER TABLE leads ADD COLUMN phone_digits TEXT;

UPDATE leads SET phone_digits = SUBSTR(phone_normalized, 2) WHERE phone_normalized LIKE '+%';
UPDATE leads SET phone_digits = phone_normalized WHERE phone_valid = 0 AND phone_normalized NOT LIKE 'bsuid:%';

CREATE INDEX leads_by_phone_digits ON leads (workspace_id, phone_digits);
