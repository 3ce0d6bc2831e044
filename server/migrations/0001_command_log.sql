-- The command log (SPEC R19), the manual clock's instant (R18) and facts about the log.
-- Stores created before migrations existed already have these tables: IF NOT EXISTS keeps
-- this first migration a no-op for them.
CREATE TABLE IF NOT EXISTS openline_command_log (seq BIGINT PRIMARY KEY, at TEXT NOT NULL, command TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS openline_clock (id INTEGER PRIMARY KEY, now TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS openline_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
