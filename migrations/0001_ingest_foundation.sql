-- leadline schema, part 1: the tables every Kapso webhook delivery lands in.
--
-- One migration set serves SQLite and PostgreSQL alike, so this file keeps to the
-- vocabulary both engines share: TEXT and BIGINT columns only (flags are 0/1
-- BIGINTs, times are UTC milliseconds since the Unix epoch), UUIDv7 text ids made
-- by the application, portable CHECK and UNIQUE constraints, and STORED generated
-- columns for the sort keys the Database view pages through.

-- A workspace is one business: one WhatsApp number connected through Kapso.
CREATE TABLE workspaces (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    -- Kapso's (= Meta's) id of the business phone number; every delivery names it,
    -- and it is how a delivery finds its workspace.
    kapso_phone_number_id   TEXT NOT NULL UNIQUE,
    -- Key of the HMAC-SHA256 signature on each delivery. Kept readable because
    -- verifying a signature needs the key itself.
    webhook_secret          TEXT NOT NULL,
    -- Meta's verification handshake token and the JSON API bearer token are only
    -- ever compared, so only their SHA-256 digests are kept.
    verify_token_sha256     TEXT NOT NULL UNIQUE,
    api_token_sha256        TEXT NOT NULL UNIQUE,
    -- Region used to read numbers typed by people ("0812-…" is Indonesian in ID).
    default_region          TEXT NOT NULL DEFAULT 'ID',
    time_zone               TEXT NOT NULL DEFAULT 'Asia/Jakarta',
    -- Local testing only: accept deliveries that carry no signature at all.
    allow_unsigned_webhooks BIGINT NOT NULL DEFAULT 0 CHECK (allow_unsigned_webhooks IN (0, 1)),
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

-- A lead is one customer of one workspace, identified by their phone number.
CREATE TABLE leads (
    id                    TEXT PRIMARY KEY,
    workspace_id          TEXT NOT NULL REFERENCES workspaces (id),
    -- The number exactly as it first reached us (webhook or typed by a person).
    phone_raw             TEXT NOT NULL,
    -- Identity key: E.164 ("+6281234567890") when the number is valid; otherwise the
    -- bare digits ("999123") or "bsuid:<id>" for a business-scoped WhatsApp user with
    -- no number, so a message from such a sender is stored rather than dropped.
    phone_normalized      TEXT NOT NULL,
    phone_valid           BIGINT NOT NULL CHECK (phone_valid IN (0, 1)),
    -- Typed by sales staff; webhooks never write it.
    name                  TEXT,
    -- WhatsApp profile name, refreshed by every inbound message.
    kapso_name            TEXT,
    lead_status           TEXT NOT NULL DEFAULT 'new'
                          CHECK (lead_status IN ('new', 'hot', 'warm', 'cold', 'client', 'lost')),
    source                TEXT NOT NULL CHECK (source IN ('whatsapp', 'manual', 'import')),
    -- The Kapso conversation "Open in Inbox" leads to: the latest one seen.
    kapso_conversation_id TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    -- Time of the latest inbound message (server clock); NULL for a lead that never wrote.
    last_activity_at      BIGINT,
    -- Sort keys for the Database view: never-active leads sink to the end, and the
    -- name order follows what the table shows (manual name, else profile name, else phone).
    activity_sort         BIGINT GENERATED ALWAYS AS (COALESCE(last_activity_at, 0)) STORED,
    name_sort             TEXT GENERATED ALWAYS AS (LOWER(COALESCE(name, kapso_name, phone_normalized))) STORED,
    CONSTRAINT leads_one_per_phone UNIQUE (workspace_id, phone_normalized)
);
CREATE INDEX leads_by_activity ON leads (workspace_id, activity_sort DESC, id DESC);
CREATE INDEX leads_by_created ON leads (workspace_id, created_at DESC, id DESC);
CREATE INDEX leads_by_name ON leads (workspace_id, name_sort, id);

-- A conversation is Kapso's thread with one lead. Deliveries in Meta's own format
-- carry no Kapso conversation id: their messages join the lead's latest
-- conversation, or one with a NULL kapso_conversation_id made for them.
CREATE TABLE conversations (
    id                    TEXT PRIMARY KEY,
    workspace_id          TEXT NOT NULL REFERENCES workspaces (id),
    lead_id               TEXT NOT NULL REFERENCES leads (id),
    kapso_conversation_id TEXT,
    status                TEXT NOT NULL DEFAULT 'active',
    unread_count          BIGINT NOT NULL DEFAULT 0,
    last_message_at       BIGINT,
    last_message_preview  TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    CONSTRAINT conversations_one_per_kapso_id UNIQUE (workspace_id, kapso_conversation_id)
);
CREATE INDEX conversations_by_lead ON conversations (lead_id, last_message_at DESC);
CREATE INDEX conversations_by_last_message ON conversations (workspace_id, last_message_at DESC, id DESC);

-- Every WhatsApp message, inbound and outbound, once.
CREATE TABLE messages (
    id                        TEXT PRIMARY KEY,
    workspace_id              TEXT NOT NULL REFERENCES workspaces (id),
    lead_id                   TEXT NOT NULL REFERENCES leads (id),
    conversation_id           TEXT REFERENCES conversations (id),
    -- WhatsApp's message id (wamid): the key that makes retried deliveries harmless.
    kapso_message_id          TEXT NOT NULL,
    direction                 TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    message_type              TEXT NOT NULL,
    content                   TEXT,
    media_url                 TEXT,
    reply_to_kapso_message_id TEXT,
    -- WhatsApp's own timestamp of the message, when the delivery gave one.
    provider_timestamp        BIGINT,
    received_at               BIGINT NOT NULL,
    -- Outbound delivery status: sent < delivered < read < failed, only ever forward.
    status                    TEXT,
    status_rank               BIGINT NOT NULL DEFAULT 0,
    status_error              TEXT,
    CONSTRAINT messages_once UNIQUE (workspace_id, kapso_message_id)
);
CREATE INDEX messages_by_lead ON messages (lead_id, received_at, id);

-- Every delivery we acknowledged, verbatim, so it can be inspected and replayed.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    idempotency_key TEXT,
    event           TEXT,
    format          TEXT NOT NULL,
    raw_body        TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    -- JSON summary of what each item did: created / duplicate / updated / ignored.
    outcome         TEXT NOT NULL,
    CONSTRAINT webhook_deliveries_once UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (workspace_id, received_at DESC);
