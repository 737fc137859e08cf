-- leadline schema, part 7: one person, one lead, whatever identifiers WhatsApp sends.
--
-- From 2026 a WhatsApp user may reach a business with a phone number, a business-scoped
-- user id (BSUID, "ID.1234…"), a parent BSUID ("ID.ENT.…") or several of them at once,
-- and change number (which changes the BSUID too). A lead therefore has a *set* of
-- identities; each identity belongs to at most one lead of a workspace, which the
-- primary key below enforces on both engines (concurrent first messages of one person
-- meet on it). Phones are E.164 ("+6281234567890"), or the bare digits of a number
-- libphonenumber rejects; one phone per lead is primary (what `phone_normalized` shows).
CREATE TABLE lead_identities (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    kind         TEXT NOT NULL CHECK (kind IN ('phone', 'bsuid', 'parent_bsuid')),
    value        TEXT NOT NULL,
    lead_id      TEXT NOT NULL REFERENCES leads (id),
    is_primary   BIGINT NOT NULL DEFAULT 0 CHECK (is_primary IN (0, 1)),
    created_at   BIGINT NOT NULL,
    CONSTRAINT lead_identities_once PRIMARY KEY (workspace_id, kind, value)
);
CREATE INDEX lead_identities_by_lead ON lead_identities (lead_id, kind, is_primary DESC, created_at);

-- The WhatsApp username ("@dewi.kue"): a label shown and searched, never a key (it can change).
ALTER TABLE leads ADD COLUMN username TEXT;
-- Set on a lead merged into another: its id keeps answering (410 / redirect) with the survivor.
ALTER TABLE leads ADD COLUMN merged_into TEXT;
CREATE INDEX leads_by_merged_into ON leads (merged_into) WHERE merged_into IS NOT NULL;

-- Existing leads become identities. `phone_normalized` keeps being the lead's unique key:
-- its primary phone, or "bsuid:<id>" for a lead that shared no number, or
-- "merged:<lead id>" once merged (so the key is always free for the survivor).
INSERT INTO lead_identities (workspace_id, kind, value, lead_id, is_primary, created_at)
SELECT workspace_id, 'phone', phone_normalized, id, 1, created_at FROM leads
WHERE phone_normalized NOT LIKE 'bsuid:%';
INSERT INTO lead_identities (workspace_id, kind, value, lead_id, is_primary, created_at)
SELECT workspace_id, 'bsuid', SUBSTR(phone_normalized, 7), id, 0, created_at FROM leads
WHERE phone_normalized LIKE 'bsuid:%';
UPDATE leads SET phone_digits = NULL WHERE phone_normalized LIKE 'bsuid:%';

-- Every merge, automatic (one delivery named two leads' identifiers) or by a person:
-- the audit trail and the lead page's history.
CREATE TABLE lead_merges (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    survivor_id     TEXT NOT NULL REFERENCES leads (id),
    merged_id       TEXT NOT NULL REFERENCES leads (id),
    -- NULL for automatic merges and for the JSON API's workspace token.
    actor_user_id   TEXT REFERENCES users (id),
    actor_label     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    -- What the merged lead was (name, profile name, status, identities), as JSON.
    merged_snapshot TEXT NOT NULL,
    merged_at       BIGINT NOT NULL
);
CREATE INDEX lead_merges_by_survivor ON lead_merges (survivor_id, merged_at DESC);

-- The Database view never lists merged leads. Its indexes become partial (both engines
-- support `WHERE` on an index, and use it when the query repeats the condition), so
-- listing, counting and searching stay index ranges. The names index gains the username
-- (searching "dewi" finds "@dewi.kue"); src/server/leads.rs repeats the expression.
DROP INDEX leads_by_activity;
DROP INDEX leads_by_created;
DROP INDEX leads_by_name;
DROP INDEX leads_by_status_activity;
DROP INDEX leads_by_status_created;
DROP INDEX leads_by_status_name;
DROP INDEX leads_by_names;
CREATE INDEX leads_by_activity ON leads (workspace_id, activity_sort DESC, id DESC) WHERE merged_into IS NULL;
CREATE INDEX leads_by_created ON leads (workspace_id, created_at DESC, id DESC) WHERE merged_into IS NULL;
CREATE INDEX leads_by_name ON leads (workspace_id, name_sort, id) WHERE merged_into IS NULL;
CREATE INDEX leads_by_status_activity ON leads (workspace_id, lead_status, activity_sort DESC, id DESC) WHERE merged_into IS NULL;
CREATE INDEX leads_by_status_created ON leads (workspace_id, lead_status, created_at DESC, id DESC) WHERE merged_into IS NULL;
CREATE INDEX leads_by_status_name ON leads (workspace_id, lead_status, name_sort, id) WHERE merged_into IS NULL;
CREATE INDEX leads_by_names ON leads (workspace_id, (LOWER(COALESCE(name, '') || ' ' || COALESCE(kapso_name, '') || ' ' || COALESCE(username, '')))) WHERE merged_into IS NULL;
