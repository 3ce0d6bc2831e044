-- SPEC R30: webhook subscriptions and their deliveries. The outbox is openline_event itself
-- (written in the transaction of the commands that caused the events): each subscription
-- keeps `cursor`, the id of the last event it is done with (delivered, given up or not
-- matching), and its delivery worker resumes after it on start. The secret is kept as given:
-- signing needs it (protect the database as you protect the config file). Lists are JSON
-- arrays of strings; NULL channels or agents = any.
CREATE TABLE openline_webhook (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    channels TEXT,
    agents TEXT,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    cursor BIGINT NOT NULL
);

-- One row per event a subscription tried to deliver: `status` pending (being retried),
-- delivered or failed (given up after webhooks.max_age). Deleted with the event.
CREATE TABLE openline_webhook_delivery (
    webhook TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    status TEXT NOT NULL,
    last_status_code BIGINT,
    last_error TEXT,
    next_attempt_at TEXT,
    PRIMARY KEY (webhook, event_id)
);
CREATE INDEX openline_webhook_delivery_event ON openline_webhook_delivery (event_id);
