-- wirewatch schema, version 2: a sent alert is edited in place when its post is edited.
-- 1 = the platform message should be edited to the alert's current payload.
ALTER TABLE outbox ADD COLUMN needs_update INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_updates ON outbox(needs_update) WHERE needs_update = 1;
CREATE INDEX alerts_post ON alerts(post_key);
