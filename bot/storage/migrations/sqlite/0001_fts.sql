-- wirewatch schema, version 1, SQLite part: the FTS5 search index (another engine builds its own).
-- Search index over the folded text and the ids, kept in step by triggers. It is a prefilter:
-- the query language is then evaluated exactly on the candidates.
CREATE VIRTUAL TABLE posts_fts USING fts5(
    search_text, entities, topics,
    content='posts', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER posts_ai AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts(rowid, search_text, entities, topics) VALUES (new.id, new.search_text, new.entities, new.topics);
END;
CREATE TRIGGER posts_ad AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts(posts_fts, rowid, search_text, entities, topics) VALUES ('delete', old.id, old.search_text, old.entities, old.topics);
END;
CREATE TRIGGER posts_au AFTER UPDATE OF search_text, entities, topics ON posts BEGIN
    INSERT INTO posts_fts(posts_fts, rowid, search_text, entities, topics) VALUES ('delete', old.id, old.search_text, old.entities, old.topics);
    INSERT INTO posts_fts(rowid, search_text, entities, topics) VALUES (new.id, new.search_text, new.entities, new.topics);
END;
