-- wirewatch schema, version 3: counters such as the config revision live in the schema.
-- Older versions created this table outside the migrations, hence IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
