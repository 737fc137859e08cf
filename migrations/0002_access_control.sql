-- leadline schema, part 2: people, their access to workspaces, and what they changed.

-- A person who signs in. Email is kept lowercased; the password only as an argon2id
-- PHC string.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Who may work in which workspace, and as what:
-- owner (everything, members and secrets), admin (members, leads), agent (leads, inbox).
CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

-- Signed-in browsers. The cookie holds a random token; only its SHA-256 is stored, so
-- a leaked database holds no usable session. Kept in the database so every replica
-- behind a load balancer knows every session.
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    -- The workspace the person is working in (the switcher changes it).
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- Absolute expiry; idle expiry is last_seen_at plus the idle timeout.
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Failed sign-ins, per account and per address, for rate limiting across replicas.
CREATE TABLE sign_in_failures (
    subject   TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_subject ON sign_in_failures (subject, failed_at);

-- The one-time link that creates the first workspace and owner on a fresh install.
CREATE TABLE setup_tokens (
    token_sha256 TEXT PRIMARY KEY,
    created_at   BIGINT NOT NULL,
    used_at      BIGINT
);

-- Every manual change to a lead: who, when, old → new. Webhook updates are not edits
-- and are not recorded here.
CREATE TABLE lead_changes (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    lead_id       TEXT NOT NULL REFERENCES leads (id),
    -- NULL when the change came through the JSON API with the workspace token.
    actor_user_id TEXT REFERENCES users (id),
    actor_label   TEXT NOT NULL,
    field         TEXT NOT NULL CHECK (field IN ('name', 'lead_status')),
    old_value     TEXT,
    new_value     TEXT,
    changed_at    BIGINT NOT NULL
);
CREATE INDEX lead_changes_by_lead ON lead_changes (lead_id, changed_at DESC);
