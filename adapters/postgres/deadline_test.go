package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/domain"
)

// TestStore_AStatementPastItsDeadlineSaysSo: when the caller's deadline
// cancels a statement, lib/pq reports the server's "canceling statement
// due to user request"; the store names the deadline as the cause, so the
// HTTP layer answers 503 timeout rather than 500.
func TestStore_AStatementPastItsDeadlineSaysSo(t *testing.T) {
	t.Parallel()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	owner := open(t, ownerURL)
	migrate(t, owner.DB, "up")
	var org, task int64
	if err := owner.GetContext(t.Context(), &org, `SELECT taskflow_create_organization('deadline', now())`); err != nil {
		t.Fatal(err)
	}
	ownerTx(t, owner, org, func(tx *sqlx.Tx) {
		if err := tx.GetContext(t.Context(), &task, `INSERT INTO tasks (organization_id, title, status, created_by)
			VALUES ($1, 'locked', 'CREATED', 1) RETURNING id`, org); err != nil {
			t.Fatal(err)
		}
	})
	// Another transaction holds the task's row lock for the whole test.
	holder, err := owner.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback() }()
	if _, err := holder.ExecContext(t.Context(), `SELECT set_config('app.organization_id', $1, true)`, org); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(t.Context(), `SELECT id FROM tasks WHERE organization_id = $1 AND id = $2 FOR UPDATE`, org, task); err != nil {
		t.Fatal(err)
	}

	stores := newStore(open(t, appURL)).Stores()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = stores.Tasks.Update(ctx, domain.OrgID(org), domain.TaskID(task), func(*domain.Task) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("update behind a held lock past its deadline: %v, want one that is context.DeadlineExceeded", err)
	}
	var de *domain.Error
	if errors.As(err, &de) {
		t.Fatalf("the error is a domain error (%v): the deadline must stay the cause", de)
	}
}
