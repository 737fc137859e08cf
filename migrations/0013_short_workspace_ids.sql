-- leadline schema, part 13: workspace ids of twelve hex digits instead of 36-character
-- UUIDs (issue 15).
--
-- Every query is scoped by workspace, so nearly every index starts with `workspace_id`:
-- a new customer's first message writes it about twenty times (five rows, fifteen index
-- entries). Twelve characters instead of thirty-six take 24 bytes off each, and every
-- B-tree comparison gets shorter too. A workspace id is not a secret and appears in no
-- URL (deliveries find their workspace by Kapso's phone_number_id, people through
-- their memberships), so changing it breaks no link; `WorkspaceId::parse` still reads
-- an old UUID as the id it becomes here: its last group, 48 random bits.
--
-- Portable to both engines and valid at every statement, so foreign keys stay checked:
-- a copy of each workspace is made under its new id (its unique columns prefixed for a
-- moment), every row that names the workspace moves to the copy, the old row goes, and
-- the copy gets its unique values back. Every row of the thirteen tables is rewritten
-- once; on SQLite the freed pages are reused by new rows.
INSERT INTO workspaces (id, name, kapso_phone_number_id, webhook_secret, verify_token_sha256, api_token_sha256,
                        default_region, time_zone, allow_unsigned_webhooks, created_at, updated_at,
                        kapso_api_key, kapso_waba_id, kapso_key_error)
SELECT SUBSTR(id, 25, 12), name, 'moving:' || kapso_phone_number_id, webhook_secret,
       'moving:' || verify_token_sha256, 'moving:' || api_token_sha256,
       default_region, time_zone, allow_unsigned_webhooks, created_at, updated_at,
       kapso_api_key, kapso_waba_id, kapso_key_error
FROM workspaces WHERE LENGTH(id) = 36;

UPDATE leads SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE conversations SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE messages SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE webhook_deliveries SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE memberships SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE sessions SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE lead_changes SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE invitations SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE lead_identities SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE lead_merges SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE webhook_health SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE csv_imports SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;
UPDATE outbox SET workspace_id = SUBSTR(workspace_id, 25, 12) WHERE LENGTH(workspace_id) = 36;

DELETE FROM workspaces WHERE LENGTH(id) = 36;

UPDATE workspaces
SET kapso_phone_number_id = SUBSTR(kapso_phone_number_id, 8),
    verify_token_sha256 = SUBSTR(verify_token_sha256, 8),
    api_token_sha256 = SUBSTR(api_token_sha256, 8)
WHERE kapso_phone_number_id LIKE 'moving:%';
