-- +goose Up
-- Full-text search over a task's title and description (GET /tasks?q=).
--
-- The words are found by the service (domain.SearchWords: runs of
-- letters, digits and marks, case-folded), not by a text search
-- configuration, and stored in search_words separated by spaces: SQLite
-- indexes the same column (migrations/sqlite/00012_task_search.sql), so
-- the same words find the same tasks on both, whatever this server's
-- locale or parser would have made of "e-mail", "v1.2" or "bob@x.org".
-- search is the tsvector of exactly those words, without positions
-- (array_to_tsvector: no configuration, no stemming, no stop words); the
-- store matches it with a tsquery of quoted words joined by &.
ALTER TABLE tasks ADD COLUMN search_words text NOT NULL DEFAULT '';

-- Tasks written before this migration get an approximation in SQL: the
-- same as the service for ASCII text; for other scripts it depends on
-- this database's locale (marks may split words). A task's next update
-- writes its exact words. Words over 200 characters are left out as the
-- service leaves them out (and a tsvector could not hold very long ones).
-- FORCE ROW LEVEL SECURITY binds the migrating owner too (00006): lifted
-- for this one statement, inside this migration's transaction, so that
-- the backfill sees every tenant's rows rather than none.
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY;
UPDATE tasks SET search_words = btrim(regexp_replace(regexp_replace(
    lower(title || ' ' || description), '[^[:alnum:]]+', ' ', 'g'), '[^ ]{201,}', ' ', 'g'));
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;

ALTER TABLE tasks ADD COLUMN search tsvector
    GENERATED ALWAYS AS (array_to_tsvector(array_remove(string_to_array(search_words, ' '), ''))) STORED;

-- A plain GIN index on search: one led by organization_id would need the
-- btree_gin extension, which this schema does not require. The list
-- statement still names the organization (and row-level security adds
-- it again); the planner combines this index with the organization's
-- (BitmapAnd), or walks the organization's sort index and checks each
-- row's search when most of its tasks match. See
-- TestListSearch_IsServedByTheGINIndex.
CREATE INDEX tasks_search_idx ON tasks USING gin (search);

-- +goose Down
DROP INDEX tasks_search_idx;
ALTER TABLE tasks DROP COLUMN search;
ALTER TABLE tasks DROP COLUMN search_words;
