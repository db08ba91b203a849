package bootstrap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/fx"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// PostgresModule provides the pool, the stores and the transactor, and
// applies migrations at start-up (under goose's advisory lock, so replicas
// starting together take turns).
var PostgresModule = fx.Module("postgres",
	fx.Provide(
		openPostgres,
		func(db *sqlx.DB) (InstallationID, error) {
			id, err := postgres.InstallationID(context.Background(), db)
			return InstallationID(id), err
		},
		func(db *sqlx.DB) ports.Stores { return postgres.NewStores(db) },
		fx.Annotate(postgres.NewTransactor, fx.As(new(ports.Transactor))),
		fx.Annotate(func(db *sqlx.DB) httpadapter.Check {
			return httpadapter.Check{Name: "database", Ping: postgres.NewPinger(db)}
		}, fx.ResultTags(`group:"checks"`)),
	),
)

func openPostgres(lc fx.Lifecycle, cfg *config.Config, log *slog.Logger) (*sqlx.DB, error) {
	if cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("DATABASE_URL is not set: point it at Postgres, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DBMaxOpenConns)
	if err != nil {
		return nil, fmt.Errorf("connect to Postgres (%s): %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error { return db.Close() }})
	// Migrations run here, before anything reads the schema (the cache
	// prefix needs the installation table).
	if cfg.MigrateOnStart {
		if err := postgres.Migrate(ctx, db.DB, "up", io.Discard); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		log.Info("database migrated")
	}
	return db, nil
}

// InstallationID names the database this process serves; shared caches
// prefix their keys with it.
type InstallationID string

// Migrate runs a migration command ("up", "down" or "status") by hand.
func Migrate(ctx context.Context, cfg *config.Config, command string, out io.Writer) error {
	if cfg.DatabaseURL == "" {
		return fmt.Errorf("DATABASE_URL is not set")
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return fmt.Errorf("connect to Postgres (%s): %w", config.RedactURL(cfg.DatabaseURL), err)
	}
	defer db.Close()
	return postgres.Migrate(ctx, db.DB, command, out)
}
