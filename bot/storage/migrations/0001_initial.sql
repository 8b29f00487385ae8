-- wirewatch schema, version 1. Timestamps are ISO 8601 UTC text; lease/next times are unix seconds.
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    source_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    chat TEXT NOT NULL,
    message_id TEXT NOT NULL,
    author TEXT,
    url TEXT,
    origin TEXT,
    date TEXT NOT NULL,
    text TEXT NOT NULL,
    search_text TEXT NOT NULL DEFAULT '',  -- folded words (bot.text.fold): what FTS indexes
    edited INTEGER NOT NULL DEFAULT 0,
    lang TEXT,
    lang_confidence REAL,
    entities TEXT NOT NULL DEFAULT '',   -- space-separated entity ids
    topics TEXT NOT NULL DEFAULT '',     -- space-separated topic ids
    first_seen TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX posts_date ON posts(date);
CREATE INDEX posts_source ON posts(source_id, date);

CREATE TABLE mentions (
    post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    entity_id TEXT NOT NULL,
    surface TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL
);
CREATE INDEX mentions_entity ON mentions(entity_id, post_id);
CREATE INDEX mentions_post ON mentions(post_id);

CREATE TABLE translations (
    text_key TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    text TEXT NOT NULL,
    provider TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (text_key, source, target)
);

CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    chat TEXT NOT NULL,
    thread TEXT,
    language TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE UNIQUE INDEX rooms_address ON rooms(platform, chat, COALESCE(thread, ''));

CREATE TABLE subscriptions (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    query TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    created_by TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (room_id, id)
);

CREATE TABLE keywords (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    variants TEXT NOT NULL DEFAULT '[]',  -- JSON list of kept translations
    created_by TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (room_id, keyword)
);

CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    address TEXT NOT NULL,
    name TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    cursor TEXT,
    added_by TEXT,
    created TEXT NOT NULL
);

-- Config-file items seeded once: a moderator's later removal is not undone by a restart.
CREATE TABLE seeded (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,       -- one alert per (post, room), whatever the edits
    post_key TEXT NOT NULL,
    room_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    payload TEXT NOT NULL,                -- JSON of the Alert as enqueued
    created TEXT NOT NULL
);
CREATE INDEX alerts_room ON alerts(room_id, created);

-- Delivery state. A worker claims rows by taking a lease; a crashed worker's lease expires.
CREATE TABLE outbox (
    alert_id INTEGER PRIMARY KEY REFERENCES alerts(id) ON DELETE CASCADE,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | sending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    last_error TEXT,
    remote_ref TEXT,                          -- platform message id, for later edits
    translated INTEGER NOT NULL DEFAULT 0,    -- 1 once the sent message carries a translation
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox(state, next_at);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    room_id TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit(at);
