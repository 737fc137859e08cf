-- leadline schema, part 9: CSV imports.
--
-- An upload is kept between the steps of an import (column mapping and preview →
-- dry run → confirm), in the database rather than in one process's memory so that any
-- replica behind a load balancer can serve the next step. Once imported, the file's
-- content is emptied (the leads hold what was imported) and the report of what
-- happened, rejected rows with their line numbers included, stays downloadable.
CREATE TABLE csv_imports (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    -- NULL when imported from the command line.
    created_by   TEXT REFERENCES users (id),
    file_name    TEXT NOT NULL,
    content      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'uploaded' CHECK (status IN ('uploaded', 'imported')),
    -- JSON: the column mapping and the report of the import, once done.
    report       TEXT,
    created_at   BIGINT NOT NULL,
    imported_at  BIGINT
);
CREATE INDEX csv_imports_by_workspace ON csv_imports (workspace_id, created_at DESC);
