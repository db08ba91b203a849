-- +goose Up
-- Full-text search over a task's title and description (GET /tasks?q=).
--
-- The words are found by the service (domain.SearchWords: runs of
-- letters, digits and marks, case-folded), not by a text search
-- configuration, and stored in search_words separated by spaces: SQLite
-- indexes the same column (migrations/sqlite/00012_task_search.sql), so
-- the same words find the same tasks on both, whatever this server's
-- locale or parser would have made of "e-mail", "v1.2" or "bob@x.org".
ALTER TABLE tasks ADD COLUMN search_words text NOT NULL DEFAULT '';

-- The index is an inverted index in a B-tree, task_words, one row per
-- distinct word of a task, led by organization_id like every other
-- index here: a search is, per word, a range of one organization's
-- entries for that word, and another tenant's tasks are never read.
--
-- Not a tsvector with a GIN index: row-level security (00006, FORCE)
-- binds the service's role and the owner alike, and under it the
-- planner may use an index condition only if its operator is leakproof,
-- lest the index see rows the policy hides. tsvector's @@ (ts_match_vq)
-- is not leakproof, and only a superuser can declare it so; a GIN index
-- on tasks.search was never used by the service (a plan of the org's
-- rows filtered one by one, all of them for a rare word). Text equality
-- is leakproof, so this index is used as the labels' is.
CREATE TABLE task_words (
    organization_id bigint NOT NULL,
    word            text   NOT NULL,
    task_id         bigint NOT NULL,
    PRIMARY KEY (organization_id, word, task_id),
    CONSTRAINT task_words_task_fkey FOREIGN KEY (organization_id, task_id)
        REFERENCES tasks (organization_id, id) ON DELETE CASCADE
);
-- The foreign key's own index: deleting a task finds its words.
CREATE INDEX task_words_task_idx ON task_words (organization_id, task_id);

GRANT SELECT, INSERT, DELETE ON task_words TO taskflow_app;
ALTER TABLE task_words ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_words FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_words
    USING      (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint)
    WITH CHECK (organization_id = NULLIF(current_setting('app.organization_id', true), '')::bigint);

-- Kept in step with search_words by triggers, as SQLite's index is, in
-- the writing transaction and with the writer's rights (so the policy
-- above checks every row written). Statement-level, over the transition
-- tables: a bulk insert (a seed, a restore) indexes its rows in one
-- statement rather than one per row. An update re-indexes only the rows
-- whose words changed; a delete of a task takes its words with it by the
-- foreign key. A word twice in one task (the SQL backfill below does not
-- remove repeats) is skipped by ON CONFLICT, without sorting the
-- statement's words for a DISTINCT.
-- +goose StatementBegin
CREATE FUNCTION taskflow_task_words_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO public.task_words (organization_id, word, task_id)
        SELECT n.organization_id, w, n.id
        FROM new_rows n, unnest(string_to_array(n.search_words, ' ')) AS w
        WHERE w <> ''
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION taskflow_task_words_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM public.task_words t
        USING old_rows o JOIN new_rows n ON n.organization_id = o.organization_id AND n.id = o.id
        WHERE n.search_words IS DISTINCT FROM o.search_words
          AND t.organization_id = o.organization_id AND t.task_id = o.id;
    INSERT INTO public.task_words (organization_id, word, task_id)
        SELECT n.organization_id, w, n.id
        FROM old_rows o JOIN new_rows n ON n.organization_id = o.organization_id AND n.id = o.id,
             unnest(string_to_array(n.search_words, ' ')) AS w
        WHERE n.search_words IS DISTINCT FROM o.search_words AND w <> ''
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER tasks_words_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION taskflow_task_words_insert();
CREATE TRIGGER tasks_words_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION taskflow_task_words_update();

-- Tasks written before this migration get an approximation in SQL: the
-- same as the service for ASCII text; for other scripts it depends on
-- this database's locale (marks may split words). A task's next edit of
-- its title or description writes its exact words. Words over 200
-- characters are left out, as the service leaves them out. FORCE binds
-- the migrating owner too: lifted for these statements, inside this
-- migration's transaction, so that the backfill sees every tenant's rows
-- rather than none.
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY;
ALTER TABLE task_words NO FORCE ROW LEVEL SECURITY;
UPDATE tasks SET search_words = btrim(regexp_replace(regexp_replace(
    lower(title || ' ' || description), '[^[:alnum:]]+', ' ', 'g'), '[^ ]{201,}', ' ', 'g'));
ALTER TABLE task_words FORCE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;

-- +goose Down
DROP TRIGGER tasks_words_update ON tasks;
DROP TRIGGER tasks_words_insert ON tasks;
DROP FUNCTION taskflow_task_words_update();
DROP FUNCTION taskflow_task_words_insert();
DROP TABLE task_words;
ALTER TABLE tasks DROP COLUMN search_words;
