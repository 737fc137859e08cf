-- leadline schema, part 5: the Database view filtered by status.
--
-- Walking the unfiltered sort index for a rare status ("hot", "lost") visits every
-- lead before it finds out there are few or none: 210 ms over 100,000 leads. With the
-- status in front of each sort order the filtered page and its count are index ranges
-- too (under a millisecond), whichever order the table is sorted in.
CREATE INDEX leads_by_status_activity ON leads (workspace_id, lead_status, activity_sort DESC, id DESC);
CREATE INDEX leads_by_status_created ON leads (workspace_id, lead_status, created_at DESC, id DESC);
CREATE INDEX leads_by_status_name ON leads (workspace_id, lead_status, name_sort, id);
