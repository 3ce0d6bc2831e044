-- SPEC R28: who caused each logged command (the caller's token name or JWT subject; NULL for
-- the router's own commands and for records written before this migration), so that a
-- replay gives conversation history entries the same `by`; and the same on archived history
-- entries. The column is `actor` because BY is an SQL keyword.
ALTER TABLE openline_command_log ADD COLUMN actor TEXT;
ALTER TABLE openline_conversation_history ADD COLUMN actor TEXT;
