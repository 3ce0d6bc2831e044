-- SPEC R25: API tokens. Only a SHA-256 hash of each secret is kept (lower-case hex; the
-- secret itself is shown once, when created, and never stored). A revoked token's row is
-- deleted, so its name can be given to a new token at once; who revoked it, and when, is
-- the audit table's to record. `agent` is set exactly for the `agent` role. Instants are UTC
-- RFC 3339, like the command log's.
CREATE TABLE openline_token (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    agent TEXT,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- SPEC R28: every accepted change to settings, with who made it and when, oldest first by
-- `id`. SQLite and PostgreSQL have no common auto-increment syntax (INTEGER PRIMARY KEY vs
-- IDENTITY/SERIAL), so ids are explicit BIGINTs taken from the counter row below, in the
-- transaction that inserts the entry:
--   UPDATE openline_audit_seq SET next = next + 1 WHERE id = 1 RETURNING next - 1 AS id
-- The row stays locked to that transaction's end (PostgreSQL; SQLite has one writer), so
-- ids increase in commit order with no duplicate and no reuse, even after old entries are
-- deleted — which `MAX(id) + 1` cannot promise under concurrent writers.
CREATE TABLE openline_audit (
    id BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    by TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    change TEXT NOT NULL
);
CREATE INDEX openline_audit_at ON openline_audit (at);
CREATE TABLE openline_audit_seq (id INTEGER PRIMARY KEY, next BIGINT NOT NULL);
INSERT INTO openline_audit_seq (id, next) VALUES (1, 1);
