-- SPEC R23a: one writer. A server that takes the store raises the epoch; every commit proves,
-- inside its own transaction, that the epoch is still the one its server raised it to.
CREATE TABLE openline_fence (id INTEGER PRIMARY KEY, epoch BIGINT NOT NULL);
INSERT INTO openline_fence (id, epoch) VALUES (1, 0);
