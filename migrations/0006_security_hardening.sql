-- leadline schema, part 6: security hardening (issue 9).

-- Sign-in attempts per subject (an account's or an address's digest), counted in a fixed
-- window. An attempt is reserved here *before* its password is checked, by one
-- conditional upsert, so concurrent guesses cannot all pass a count read before any of
-- them was written; a successful sign-in gives its reservation back. Replaces the
-- failure log, which was read before the check and written after it.
CREATE TABLE sign_in_attempts (
    subject      TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    attempts     BIGINT NOT NULL
);
DROP TABLE sign_in_failures;

-- Invitations to a workspace: owners and admins invite an email with a role; the
-- invitee opens the one-time link and creates their account with their own password,
-- or signs in with theirs. Only the token's SHA-256 is stored. An invitation is
-- pending while accepted_at and revoked_at are NULL and expires_at is ahead.
CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    token_sha256 TEXT NOT NULL UNIQUE,
    invited_by   TEXT REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    accepted_by  TEXT REFERENCES users (id),
    revoked_at   BIGINT
);
CREATE INDEX invitations_by_workspace ON invitations (workspace_id, created_at);

-- One-time password-reset links, issued by the operator (`leadline user
-- reset-password`). Only the token's SHA-256 is stored.
CREATE TABLE password_resets (
    token_sha256 TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);
