package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/taskflow/taskflow/migrations"
)

// Migrate runs a goose command over the embedded Postgres migrations and
// reports what it did to out:
//
//   - "up" applies every pending migration;
//   - "down" rolls back the most recent one;
//   - "status" lists each migration's version, name and state.
//
// The migrations run under a Postgres session-level advisory lock, so that
// several replicas starting at once apply each migration exactly once: the
// others wait for the lock, then find nothing left to do.
func Migrate(ctx context.Context, db *sql.DB, command string, out io.Writer) error {
	p, err := newMigrationProvider(db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// p.Close is never called: it would close db, which belongs to the caller.
	switch command {
	case "up":
		results, err := p.Up(ctx)
		for _, r := range results {
			fmt.Fprintln(out, r)
		}
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		if len(results) == 0 {
			fmt.Fprintln(out, "no pending migrations")
		}
	case "down":
		r, err := p.Down(ctx)
		switch {
		case errors.Is(err, goose.ErrNoNextVersion):
			fmt.Fprintln(out, "no migration to roll back")
		case err != nil:
			return fmt.Errorf("migrate down: %w", err)
		default:
			fmt.Fprintln(out, r)
		}
	case "status":
		statuses, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		for _, s := range statuses {
			applied := "pending"
			if s.State == goose.StateApplied {
				applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(out, "%05d  %-28s %s\n", s.Source.Version, filepath.Base(s.Source.Path), applied)
		}
	default:
		return fmt.Errorf("migrate: unknown command %q (want up, down or status)", command)
	}
	return nil
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
