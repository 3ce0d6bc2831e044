-- SPEC R21, R22: every log record says which format it is written in (1 = the command as
-- the JSON of its first release); snapshots of the whole state; closed conversations archived
-- in plain tables a deployer can report on (docs/store.md).
ALTER TABLE openline_command_log ADD COLUMN format INTEGER NOT NULL DEFAULT 1;

-- The latest snapshot: the state after every log record up to `seq` (records up to it are
-- deleted in the same transaction that writes it).
CREATE TABLE openline_snapshot (
    seq BIGINT PRIMARY KEY,
    format INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    state TEXT NOT NULL
);

-- One row per closed conversation that left memory (SPEC R21b). Instants are UTC RFC 3339
-- with six fractional digits, so they sort as text.
CREATE TABLE openline_conversation (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    customer TEXT NOT NULL,
    agent TEXT,
    last_message_from TEXT,
    queued_at TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    history_omitted BIGINT NOT NULL
);
CREATE INDEX openline_conversation_closed_at ON openline_conversation (closed_at);
CREATE INDEX openline_conversation_queued_at ON openline_conversation (queued_at, id);
CREATE INDEX openline_conversation_channel ON openline_conversation (channel, queued_at);
CREATE INDEX openline_conversation_agent ON openline_conversation (agent, queued_at);

-- Its history entries, oldest first (position 0, 1, …).
CREATE TABLE openline_conversation_history (
    conversation TEXT NOT NULL,
    position INTEGER NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    agent TEXT,
    reason TEXT,
    PRIMARY KEY (conversation, position)
);
