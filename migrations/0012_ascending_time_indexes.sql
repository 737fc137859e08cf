-- leadline schema, part 12: the time-ordered indexes are stored ascending (issue 15).
--
-- These indexes were declared `DESC` because the pages list newest first. Both engines
-- walk an index backwards as cheaply as forwards, so a page still reads one index range
-- (the queries still say `ORDER BY … DESC`), but the order decides where new entries go:
-- every new lead, every bumped activity and every delivery carries the largest time yet,
-- so in a descending index it lands on the *leftmost* leaf. B-trees on both engines split
-- a full page at the right edge so that the old page stays full (SQLite's "quick balance",
-- PostgreSQL's rightmost-page fillfactor); anywhere else they split it in halves and the
-- halves never fill again, because nothing smaller arrives after them. `scripts/soak`
-- measured the descending ones at 184 bytes per entry against 102 for the same columns
-- ascending: about 500 bytes of every stored message.
DROP INDEX leads_by_activity;
DROP INDEX leads_by_created;
DROP INDEX leads_by_status_activity;
DROP INDEX leads_by_status_created;
DROP INDEX conversations_by_last_message;
DROP INDEX webhook_deliveries_by_time;
CREATE INDEX leads_by_activity ON leads (workspace_id, activity_sort, id) WHERE merged_into IS NULL;
CREATE INDEX leads_by_created ON leads (workspace_id, created_at, id) WHERE merged_into IS NULL;
CREATE INDEX leads_by_status_activity ON leads (workspace_id, lead_status, activity_sort, id) WHERE merged_into IS NULL;
CREATE INDEX leads_by_status_created ON leads (workspace_id, lead_status, created_at, id) WHERE merged_into IS NULL;
CREATE INDEX conversations_by_last_message ON conversations (workspace_id, last_message_at, id);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (workspace_id, received_at);
-- Made again, last: with no statistics SQLite breaks a tie between indexes that match
-- only `workspace_id = ?` in favour of the one created last. A name search must scan this
-- narrow index (reading the table only for matches), not walk another index and read the
-- table row of every lead (tests/integration/api.rs, name_search_scans_the_names_index).
DROP INDEX leads_by_names;
CREATE INDEX leads_by_names ON leads (workspace_id, (LOWER(COALESCE(name, '') || ' ' || COALESCE(kapso_name, '') || ' ' || COALESCE(username, '')))) WHERE merged_into IS NULL;
