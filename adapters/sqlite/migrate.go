package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/taskflow/taskflow/migrations"
)

// Migrate runs a migration command ("up", "down" or "status", see
// migrations.Run) over the embedded SQLite migrations, reporting to out.
// db is the write pool. Each migration runs in its own transaction, which
// the writer begins IMMEDIATE; there is no lock across migrations as on
// Postgres, since one process owns the file.
func Migrate(ctx context.Context, db *sql.DB, command string, out io.Writer) error {
	fsys, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		// Only the embedded SQL files count, never Go migrations some
		// other package might have registered globally.
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return migrations.Run(ctx, p, command, out)
}
