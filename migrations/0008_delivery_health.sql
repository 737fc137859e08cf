-- leadline schema, part 8: contact cards and webhook health.
--
-- A customer can share contact cards (vCards) in WhatsApp; the cards are kept with the
-- message as JSON (a list of {name, org, phones[{phone, wa_id, type}], emails}) so the
-- Inbox can show them and add a shared number as a lead.
ALTER TABLE messages ADD COLUMN shared_contacts TEXT;

-- What owners see under Settings → Webhook health: WhatsApp's error notices (value.errors[],
-- a status's errors[]) and deliveries leadline refused, with their reasons. One row per
-- (workspace, kind, code) with a count and when it was last seen, so the table stays
-- small however many deliveries arrive: a repeat only moves the count and the time.
-- Deliveries that name no known workspace are not kept here (they belong to nobody).
CREATE TABLE webhook_health (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    -- 'error_notice' (WhatsApp reported a problem) or 'refused' (leadline answered 4xx).
    kind         TEXT NOT NULL CHECK (kind IN ('error_notice', 'refused')),
    -- WhatsApp's error code ("130429") or the refusal's status and reason ("401 invalid signature").
    code         TEXT NOT NULL,
    -- Human-readable title: WhatsApp's error title, or why the delivery was refused.
    title        TEXT NOT NULL,
    seen_count   BIGINT NOT NULL,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, kind, code)
);
CREATE INDEX webhook_health_recent ON webhook_health (workspace_id, last_seen DESC);
