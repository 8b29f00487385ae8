-- wirewatch schema, version 6, PostgreSQL's own text of 0006_stories.sql (BYTEA for the vectors).
-- is the key of its first post. Alerts follow stories: a room gets one alert per story, and
-- later reports update that alert in place ("+N sources").
CREATE TABLE stories (
    id TEXT PRIMARY KEY,                -- key of the first post
    first_seen TEXT NOT NULL,           -- date of the first post (ISO 8601, UTC)
    last_seen TEXT NOT NULL,            -- date of the newest post
    posts INTEGER NOT NULL DEFAULT 0,
    sources TEXT NOT NULL DEFAULT '',   -- source ids, space-separated, in order of arrival
    languages TEXT NOT NULL DEFAULT '', -- language codes, space-separated
    entities TEXT NOT NULL DEFAULT ''   -- entity ids, space-separated
);
CREATE INDEX stories_last ON stories(last_seen);
-- The post -> story link. `vector` is the post's sentence embedding when grouping computed it
-- (float32 bytes), so a restart re-feeds the grouper without embedding again.
CREATE TABLE story_posts (
    post_key TEXT PRIMARY KEY,
    story_id TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    source_id TEXT NOT NULL,
    lang TEXT,
    entities TEXT NOT NULL DEFAULT '',
    vector BYTEA
);
CREATE INDEX story_posts_story ON story_posts(story_id, date);
CREATE INDEX story_posts_date ON story_posts(date);
-- The first post of a story that reached a room, and its alert there (NULL when not queued:
-- a replay of history). Later posts of the story update that alert instead of alerting.
CREATE TABLE story_rooms (
    story_id TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    post_key TEXT NOT NULL,
    alert_id INTEGER REFERENCES alerts(id) ON DELETE SET NULL,
    PRIMARY KEY (story_id, room_id)
);
-- Edits of a sent alert are coalesced: not applied before `update_after` (unix seconds).
ALTER TABLE outbox ADD COLUMN update_after DOUBLE PRECISION NOT NULL DEFAULT 0;
