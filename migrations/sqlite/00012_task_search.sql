-- +goose Up
-- Full-text search over a task's title and description (GET /tasks?q=),
-- as on Postgres (migrations/postgres/00013_task_search.sql, which
-- explains search_words): the service stores a task's words, case-folded
-- and separated by spaces, and FTS5 indexes them. The "ascii" tokenizer
-- splits that text on its spaces and nothing else (every non-ASCII
-- character is part of a word, and the ASCII ones the service writes are
-- letters and digits), so the index holds exactly the service's words:
-- no stemming, no stop words, no diacritics removed.
ALTER TABLE tasks ADD COLUMN search_words TEXT NOT NULL DEFAULT '';

-- Tasks written before this migration: their title and description as
-- they are, which the ascii tokenizer splits on ASCII punctuation and
-- folds to ASCII lower case, the same as the service for ASCII text. A
-- task's next update writes its exact words.
UPDATE tasks SET search_words = title || ' ' || description;

-- External content: the index reads its text from tasks.search_words
-- (rowid = tasks.id, unique across organizations), and the triggers keep
-- it in step with every insert, update and delete of a task. The
-- organization is not in the index: the list statement takes the
-- matching ids within its own organization_id condition.
CREATE VIRTUAL TABLE task_search USING fts5(
    search_words, content = 'tasks', content_rowid = 'id', tokenize = 'ascii'
);
INSERT INTO task_search (task_search) VALUES ('rebuild');

-- +goose StatementBegin
CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_search (rowid, search_words) VALUES (new.id, new.search_words);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO task_search (task_search, rowid, search_words) VALUES ('delete', old.id, old.search_words);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER tasks_search_update AFTER UPDATE OF search_words ON tasks
WHEN old.search_words IS NOT new.search_words BEGIN
    INSERT INTO task_search (task_search, rowid, search_words) VALUES ('delete', old.id, old.search_words);
    INSERT INTO task_search (rowid, search_words) VALUES (new.id, new.search_words);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER tasks_search_update;
DROP TRIGGER tasks_search_delete;
DROP TRIGGER tasks_search_insert;
DROP TABLE task_search;
ALTER TABLE tasks DROP COLUMN search_words;
