package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/taskflow/taskflow/migrations"
)

// Migrate runs a migration command ("up", "down" or "status", see
// migrations.Run) over the embedded Postgres migrations, reporting to out.
//
// The migrations run under a Postgres session-level advisory lock, so that
// several replicas starting at once apply each migration exactly once: the
// others wait for the lock, then find nothing left to do.
func Migrate(ctx context.Context, db *sql.DB, command string, out io.Writer) error {
	p, err := newMigrationProvider(db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return migrations.Run(ctx, p, command, out)
}

func newMigrationProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		return nil, err
	}
	// Waiting replicas poll the lock every second, for up to five minutes:
	// long enough for any migration this schema will plausibly need.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300), lock.WithUnlockTimeout(1, 60))
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		// Only the embedded SQL files count, never Go migrations some
		// other package might have registered globally.
		goose.WithDisableGlobalRegistry(true),
	)
}
