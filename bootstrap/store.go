package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/fx"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/sqlite"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/adapters/telemetry"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// StoreModule provides the stores, the transactor, the database's
// readiness check and its installation id, over the database chosen by
// DATABASE_URL (see openDatabase), migrated at start-up.
var StoreModule = fx.Module("store",
	fx.Provide(newStore),
)

// InstallationID names the database this process serves; shared caches
// prefix their keys with it.
type InstallationID string

type storeOut struct {
	fx.Out
	Stores ports.Stores
	// Events is the event store as it is, for the publisher, which numbers
	// what Stores' decorated event store appends (publishCommitted).
	Events  ports.EventStore
	Tx      ports.Transactor
	Install InstallationID
	Check   httpadapter.Check `group:"checks"`
}

func newStore(lc fx.Lifecycle, cfg *config.Config, log *slog.Logger, m *metrics.Metrics, tr *telemetry.Tracing) (storeOut, error) {
	// Opening waits up to STARTUP_TIMEOUT on its own; the minute is for
	// what follows, once the database answers.
	db, err := openDatabase(context.Background(), cfg, log, tr)
	if err != nil {
		return storeOut{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Migrations run here, before anything reads the schema (the cache
	// prefix needs the installation table). On Postgres they take an
	// advisory lock, so replicas starting together take turns.
	if cfg.MigrateOnStart {
		if err := db.migrate(ctx, "up", io.Discard); err != nil {
			return storeOut{}, errors.Join(fmt.Errorf("migrate: %w", err), db.close())
		}
		log.Info("database migrated")
	}
	if db.checkRole != nil {
		if err := db.checkRole(ctx, log); err != nil {
			return storeOut{}, errors.Join(err, db.close())
		}
	}
	id, err := db.InstallationID(ctx)
	if err != nil {
		return storeOut{}, errors.Join(err, db.close())
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error { return db.close() }})
	m.WatchDB(db.PoolStats)
	stores := db.Stores()
	return storeOut{
		Stores:  stores,
		Events:  stores.Events,
		Tx:      db,
		Install: InstallationID(id),
		Check:   httpadapter.Check{Name: "database", Ping: db},
	}, nil
}

// Migrate runs a migration command ("up", "down" or "status") by hand, on
// the database the service would use (on Postgres, as the role of
// MIGRATION_DATABASE_URL when it is set).
func Migrate(ctx context.Context, cfg *config.Config, command string, out io.Writer) error {
	// Only warnings: the waits for a database that is not up yet are
	// worth seeing beside the migration output; the rest is not.
	quiet := *cfg
	quiet.LogLevel = "warn"
	db, err := openDatabase(ctx, cfg, NewLogger(&quiet, os.Stderr), telemetry.Off())
	if err != nil {
		return err
	}
	// Say which database: with several environments' URLs about, a
	// status read from the wrong one looks just like the right one.
	fmt.Fprintf(out, "database: %s\n", db.name)
	return errors.Join(db.migrate(ctx, command, out), db.close())
}

// database is an open database: the stores over it, and what runs its
// migrations and closes its pools.
type database struct {
	*sqlstore.DB
	migrate func(ctx context.Context, command string, out io.Writer) error
	close   func() error
	// name is what migrations read, for people: the kind of store and its
	// URL with any password masked, or its file.
	name string
	// checkRole logs whether the database's own tenant wall binds the
	// service's connections; nil where there is none (SQLite).
	checkRole func(ctx context.Context, log *slog.Logger) error
}

// openDatabase is the one place the database is chosen: Postgres for a
// postgres:// DATABASE_URL, else SQLite, in the file a sqlite: URL names
// or, with no DATABASE_URL at all, in DATA_DIR. With tracing on, the
// service's pools trace each statement (the migration owner's does not).
func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger, tr *telemetry.Tracing) (*database, error) {
	st, err := cfg.Store()
	if err != nil {
		return nil, err
	}
	switch st.Kind {
	case config.StorePostgres:
		// The database may still be starting (compose starts everything
		// at once): wait for it, up to STARTUP_TIMEOUT.
		var db *sqlx.DB
		dep := dependency{What: "database", Setting: "DATABASE_URL", URL: config.RedactURL(st.URL)}
		err := waitFor(ctx, log, dep, cfg.StartupTimeout, func(ctx context.Context) error {
			var err error
			db, err = postgres.OpenWith(ctx, tr.OpenSQL("postgresql"), st.URL, cfg.DBMaxOpenConns)
			return err
		})
		if err != nil {
			return nil, err
		}
		log.Info("store: postgres", "url", config.RedactURL(st.URL))
		return &database{
			DB: sqlstore.New(db, db, postgres.Dialect{}),
			migrate: func(ctx context.Context, command string, out io.Writer) error {
				if st.MigrationURL == st.URL {
					return postgres.Migrate(ctx, db.DB, command, out)
				}
				// The owner's pool lives only as long as the migrations:
				// the service never holds a connection that could turn
				// row-level security off. Two connections: goose holds
				// its advisory lock on one and migrates on the other.
				owner, err := postgres.Open(ctx, st.MigrationURL, 2)
				if err != nil {
					return fmt.Errorf("connect to Postgres for migrations (MIGRATION_DATABASE_URL %s): %w", config.RedactURL(st.MigrationURL), err)
				}
				return errors.Join(postgres.Migrate(ctx, owner.DB, command, out), owner.Close())
			},
			close:     db.Close,
			name:      "postgres " + config.RedactURL(st.MigrationURL),
			checkRole: func(ctx context.Context, log *slog.Logger) error { return checkRowSecurity(ctx, db, log) },
		}, nil
	case config.StoreSQLite:
		read, write, err := sqlite.OpenWith(ctx, tr.OpenSQL("sqlite"), st.Path, cfg.DBMaxOpenConns)
		if err != nil {
			return nil, fmt.Errorf("open the SQLite store (%s): %w", st.Path, err)
		}
		log.Info("store: sqlite", "path", st.Path)
		return &database{
			DB: sqlstore.New(read, write, sqlite.Dialect{}),
			migrate: func(ctx context.Context, command string, out io.Writer) error {
				return sqlite.Migrate(ctx, write.DB, command, out)
			},
			close: func() error { return errors.Join(read.Close(), write.Close()) },
			name:  "sqlite " + st.Path,
		}, nil
	}
	return nil, fmt.Errorf("unknown store %q", st.Kind)
}

// checkRowSecurity says at start-up whether Postgres row-level security,
// the second wall between tenants, binds the role DATABASE_URL connects
// as. A superuser or BYPASSRLS role is never bound: the service still
// starts (local development runs as the postgres superuser), and the
// stores' own organization filter still holds, but an ERROR says that the
// second wall is down.
func checkRowSecurity(ctx context.Context, db *sqlx.DB, log *slog.Logger) error {
	role, err := postgres.CurrentRole(ctx, db)
	if err != nil {
		return err
	}
	switch {
	case role.Bypasses():
		log.Error("row-level security is NOT in force: the database role bypasses it; "+
			"tenants are kept apart by the stores' queries alone. Connect DATABASE_URL as a role without "+
			"SUPERUSER and BYPASSRLS that is a member of taskflow_app, and run migrations with "+
			"MIGRATION_DATABASE_URL (README, Tenant isolation)",
			"role", role.Name, "superuser", role.Superuser, "bypassrls", role.BypassRLS)
	case role.OwnerRights:
		log.Warn("row-level security is in force, but the database role owns the tables (or inherits their "+
			"owner's rights) and could turn it off; connect DATABASE_URL as a member of taskflow_app that owns "+
			"nothing, and run migrations with MIGRATION_DATABASE_URL (README, Tenant isolation)",
			"role", role.Name)
	default:
		log.Info("row-level security in force", "role", role.Name)
	}
	return nil
}
