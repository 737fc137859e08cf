-- leadline schema, part 10: answering from leadline (issue 11).
--
-- A reply is committed before anything is sent: a `messages` row (direction outbound,
-- status `queued`, a placeholder id `leadline:<message id>` until Kapso names the
-- wamid) and an `outbox` row that the sender works through. The outbox row's state
-- says what is known about the send:
--   queued   not sent yet (or a retry is due at next_attempt_at)
--   sending  claimed by a sender, the request may be on the wire
--   sent     Kapso answered with a wamid (kept on the message row)
--   failed   Kapso refused it, or every attempt failed; a person may retry
--   unknown  the sender stopped between sending and recording the answer: it may or may
--            not have reached the customer, so it is never sent again automatically
CREATE TABLE outbox (
    message_id      TEXT PRIMARY KEY REFERENCES messages (id),
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
    -- The JSON body posted to Kapso, fixed when the reply was written.
    request         TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_at      BIGINT,
    claimed_by      TEXT,
    last_error      TEXT,
    -- The composer's key for one reply: a form submitted twice queues it once.
    client_key      TEXT,
    created_by      TEXT REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT outbox_client_key UNIQUE (workspace_id, client_key)
);
-- What the sender looks for: due queued rows, and claims that outlived their lease.
CREATE INDEX outbox_work ON outbox (state, next_attempt_at);

-- Kapso's API key (sending needs the key itself, like the webhook secret), the WhatsApp
-- Business Account whose templates are offered, and the last refusal of the key
-- (shown in Settings until a send succeeds or the key changes).
ALTER TABLE workspaces ADD COLUMN kapso_api_key TEXT;
ALTER TABLE workspaces ADD COLUMN kapso_waba_id TEXT;
ALTER TABLE workspaces ADD COLUMN kapso_key_error TEXT;

-- WhatsApp's 24-hour window runs from the customer's latest message; "needs reply"
-- is the oldest inbound message not answered yet (NULL: nobody is waiting).
ALTER TABLE leads ADD COLUMN last_inbound_at BIGINT;
ALTER TABLE leads ADD COLUMN last_outbound_at BIGINT;
ALTER TABLE leads ADD COLUMN awaiting_reply_since BIGINT;
CREATE INDEX leads_needs_reply ON leads (workspace_id, awaiting_reply_since, id)
    WHERE awaiting_reply_since IS NOT NULL AND merged_into IS NULL;

UPDATE leads SET
    last_inbound_at = (SELECT MAX(COALESCE(m.provider_timestamp, m.received_at)) FROM messages m
                       WHERE m.lead_id = leads.id AND m.direction = 'inbound'),
    last_outbound_at = (SELECT MAX(COALESCE(m.provider_timestamp, m.received_at)) FROM messages m
                        WHERE m.lead_id = leads.id AND m.direction = 'outbound');
UPDATE leads SET awaiting_reply_since = (
    SELECT MIN(COALESCE(m.provider_timestamp, m.received_at)) FROM messages m
    WHERE m.lead_id = leads.id AND m.direction = 'inbound'
      AND COALESCE(m.provider_timestamp, m.received_at) > COALESCE(leads.last_outbound_at, 0))
WHERE last_inbound_at IS NOT NULL;
