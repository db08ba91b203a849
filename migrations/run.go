package migrations

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/pressly/goose/v3"
)

// Run runs a goose command with p and reports what it did to out:
//
//   - "up" applies every pending migration;
//   - "down" rolls back the most recent one;
//   - "status" lists each migration's version, name and state.
//
// p is not closed: that would close the caller's database.
func Run(ctx context.Context, p *goose.Provider, command string, out io.Writer) error {
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
