-- leadline schema, part 4: finding a lead by a fragment of its name quickly.
--
-- A name search matches the manual name or the WhatsApp profile name anywhere in it
-- ("santoso" finds "Budi Santoso"), which no B-tree can seek to. Both names in one
-- lowercased string make that one comparison per lead instead of two, and an index on
-- exactly this expression lets SQLite scan the small index rather than the whole
-- table: about 15 ms instead of 65 ms per query over 100,000 leads. The search query
-- (src/server/leads.rs) repeats the expression word for word, or SQLite ignores it.
CREATE INDEX leads_by_names ON leads (workspace_id, (LOWER(COALESCE(name, '') || ' ' || COALESCE(kapso_name, ''))));
