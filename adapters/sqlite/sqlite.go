// Package sqlite is TaskFlow's embedded store: a SQLite database in one
// file, through modernc.org/sqlite (pure Go, no cgo) and sqlx, so that the
// service runs with nothing installed. It opens the file the way SQLite is
// run in production (WAL, a busy timeout, foreign keys on, one writer
// connection), runs the embedded SQLite migrations with goose, and
// provides the SQLite Dialect with which adapters/sqlstore runs the store
// ports. bootstrap puts them together; this package does not import
// sqlstore, whose Dialect interface Dialect satisfies by its methods alone.
//
// It may import the migrations package, sqlx, the SQLite driver, goose and
// the standard library; never another adapter nor the application layer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Every connection's settings, applied by the driver as it opens it:
//   - busy_timeout: a connection that finds the database locked (by
//     another process, or a checkpoint) waits up to 5 s, rather than
//     failing at once with SQLITE_BUSY;
//   - foreign_keys: SQLite enforces them only when asked, per connection;
//   - synchronous NORMAL: with WAL, a commit survives a crash of the
//     process; only a power loss can lose the last commits, never
//     corrupt the file;
//   - _time_format=sqlite: times are written as UTC text
//     ('2006-01-02 15:04:05.999999-07:00' with +00:00), read back as times.
const connParams = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_time_format=sqlite"

// The writer also sets WAL (persistent, in the file: readers then never
// block the writer, nor the writer them) and begins every transaction
// IMMEDIATE: it takes the write lock before its first read, so that two
// writers (in two processes) never both read, then deadlock upgrading to
// write. Readers are query-only: a write sent to the wrong pool fails.
const (
	writerParams = connParams + "&_pragma=journal_mode(WAL)&_txlock=immediate"
	readerParams = connParams + "&_query_only=1"
)

// defaultReaders applies when Open is given no positive pool size.
const defaultReaders = 4

// Open opens, creating it and its directory if need be, the database file
// at path, as two pools: write, of one connection, for every write and
// transaction, so that writers in this process queue in Go rather than
// contend for SQLite's lock; and read, of up to readers query-only
// connections, that WAL lets read alongside the writer. readers <= 0
// means 4.
func Open(ctx context.Context, path string, readers int) (read, write *sqlx.DB, err error) {
	return OpenWith(ctx, sql.Open, path, readers)
}

// OpenWith is Open with the pools opened by open (database/sql's Open, or
// a wrapper of it that instruments the driver: bootstrap passes one when
// tracing is on).
func OpenWith(ctx context.Context, open func(driverName, dsn string) (*sql.DB, error), path string, readers int) (read, write *sqlx.DB, err error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, nil, fmt.Errorf("sqlite: database path %q: want a file name without ? or #", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	if readers <= 0 {
		readers = defaultReaders
	}
	// The writer opens first: it creates the file and turns WAL on before
	// any reader looks at it.
	write, err = openPool(ctx, open, path+"?"+writerParams, 1)
	if err != nil {
		return nil, nil, err
	}
	read, err = openPool(ctx, open, path+"?"+readerParams, readers)
	if err != nil {
		_ = write.Close()
		return nil, nil, err
	}
	return read, write, nil
}

func openPool(ctx context.Context, open func(driverName, dsn string) (*sql.DB, error), dsn string, conns int) (*sqlx.DB, error) {
	raw, err := open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db := sqlx.NewDb(raw, "sqlite")
	// Connections are cheap to keep and dear to open (each runs its
	// pragmas), and a file has no server to give them back to: they live
	// as long as the pool.
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", strings.SplitN(dsn, "?", 2)[0], err)
	}
	return db, nil
}

// Dialect is SQLite as adapters/sqlstore needs to know it.
type Dialect struct{}

// Name names the database in error messages.
func (Dialect) Name() string { return "sqlite" }

// BindType is the driver's placeholder style, ?.
func (Dialect) BindType() int { return sqlx.QUESTION }

// RowLock is empty: SQLite has no row locks, and needs none here. Every
// write transaction begins IMMEDIATE on the one writer connection, so it
// holds the database's write lock from its first read to its commit.
func (Dialect) RowLock(string) string { return "" }

// JSONArrayAgg is json_group_array; it is "[]" over no rows.
func (Dialect) JSONArrayAgg(expr string) string { return "json_group_array(" + expr + ")" }

// TextSearch looks the words up in the task_search FTS5 index
// (migrations/sqlite/00012_task_search.sql), each a quoted string, which
// FTS5 ANDs, from the cursor's id on when there is one; the tasks are
// then read by id, within the organization the caller's other
// conditions name.
func (Dialect) TextSearch(words []string, idOp string, id int64) (string, []any) {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + strings.ReplaceAll(w, `"`, `""`) + `"`)
	}
	if idOp != "" {
		return "id IN (SELECT rowid FROM task_search WHERE task_search MATCH ? AND rowid " + idOp + " ?)",
			[]any{b.String(), id}
	}
	return "id IN (SELECT rowid FROM task_search WHERE task_search MATCH ?)", []any{b.String()}
}

// Now is the current time in the stored form (to the millisecond, which
// is all SQLite's clock gives).
func (Dialect) Now() string { return "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')" }

// Violation classifies unique and foreign-key violations. SQLite names
// the columns of a unique constraint ("UNIQUE constraint failed:
// invites.code_hash"), or the index of a unique index on an expression
// ("... index 'users_email_key'"); the former is reported under the
// name Postgres gives it (invites_code_hash_key, organizations_pkey). It
// never says which foreign key failed: that name is "".
func (Dialect) Violation(err error) (class, constraint string) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", ""
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return "unique", uniqueName(se.Error(), false)
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return "unique", uniqueName(se.Error(), true)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return "foreign_key", ""
	}
	return "", ""
}

// Unavailable reports whether err means the database file cannot serve
// us now, by SQLite's primary result code: BUSY or LOCKED (another
// connection, another process or a checkpoint held the lock past the
// busy timeout), CANTOPEN (the file or its directory is gone or not
// ours), IOERR (the disk failed under it) or FULL (no space left to
// write). Each may pass; none is a fault of the statement.
func (Dialect) Unavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	// Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE...) carry
	// the primary code in their low byte.
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
		return true
	}
	return false
}

// uniqueName turns the detail of SQLite's message,
// "constraint failed: UNIQUE constraint failed: t.a, t.b (2067)", into
// Postgres's default name for that constraint, t_a_b_key (t_pkey for the
// primary key); or returns the index's name from
// "... failed: index 'name' (2067)".
func uniqueName(msg string, primaryKey bool) string {
	const marker = "constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return ""
	}
	detail := msg[i+len(marker):]
	if j := strings.LastIndex(detail, " ("); j >= 0 {
		detail = detail[:j]
	}
	if name, ok := strings.CutPrefix(detail, "index '"); ok {
		return strings.TrimSuffix(name, "'")
	}
	var table string
	var cols []string
	for _, tc := range strings.Split(detail, ", ") {
		t, col, ok := strings.Cut(tc, ".")
		if !ok {
			return ""
		}
		table, cols = t, append(cols, col)
	}
	if primaryKey {
		return table + "_pkey"
	}
	return table + "_" + strings.Join(cols, "_") + "_key"
}
