package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/domain"
)

// TestMigrate_CompletedAtBackfillAsOwner: a task COMPLETED before the task
// details migration gets its updated_at as completed_at, also when a
// non-superuser owner migrates, whom forced row-level security binds
// (00009 alone backfilled nothing then; 00018 mends it).
func TestMigrate_CompletedAtBackfillAsOwner(t *testing.T) {
	t.Parallel()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	owner := open(t, ownerURL)
	migrate(t, owner.DB, "up")
	for strings.Contains(statusLine(t, owner.DB, "_task_details.sql"), "applied") {
		migrate(t, owner.DB, "down")
	}
	var org, done, inProgress int64
	if err := owner.GetContext(t.Context(), &org, `SELECT taskflow_create_organization('before', now())`); err != nil {
		t.Fatal(err)
	}
	var updated time.Time
	ownerTx(t, owner, org, func(tx *sqlx.Tx) {
		if err := tx.QueryRowxContext(t.Context(), `INSERT INTO tasks (organization_id, title, status, created_by, updated_at)
			VALUES ($1, 'done', 'COMPLETED', 1, now() - interval '3 days') RETURNING id, updated_at`, org).Scan(&done, &updated); err != nil {
			t.Fatal(err)
		}
		if err := tx.GetContext(t.Context(), &inProgress, `INSERT INTO tasks (organization_id, title, status, created_by)
			VALUES ($1, 'open', 'IN_PROGRESS', 1) RETURNING id`, org); err != nil {
			t.Fatal(err)
		}
	})
	migrate(t, owner.DB, "up")

	stores := newStore(open(t, appURL)).Stores()
	got, err := stores.Tasks.Get(t.Context(), domain.OrgID(org), domain.TaskID(done))
	if err != nil {
		t.Fatal(err)
	}
	if got.CompletedAt == nil || !got.CompletedAt.Equal(updated) {
		t.Errorf("completed task: completed_at %v, want its updated_at %v", got.CompletedAt, updated)
	}
	if got, err = stores.Tasks.Get(t.Context(), domain.OrgID(org), domain.TaskID(inProgress)); err != nil || got.CompletedAt != nil {
		t.Errorf("task in progress: completed_at %v (err %v), want none", got.CompletedAt, err)
	}
}
