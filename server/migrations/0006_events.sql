-- SPEC R29: every published event, numbered. Ids come from the counter row of
-- openline_event_seq, raised in the transaction that writes the events (the group-commit
-- writer's, with the commands that caused them), so that a restart neither reuses nor skips
-- an id, even after retention deleted every row. `at` is UTC RFC 3339 with microseconds
-- (fixed width, so that text order is time order); `data` is the event's JSON as sent.
CREATE TABLE openline_event (
    id BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    agent TEXT,
    channel TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX openline_event_at ON openline_event (at);
CREATE TABLE openline_event_seq (id INTEGER PRIMARY KEY, next BIGINT NOT NULL);
INSERT INTO openline_event_seq (id, next) VALUES (1, 1);
