// Package postgres is TaskFlow's PostgreSQL adapter: it opens the
// connection pool (sqlx over lib/pq), runs the embedded Postgres
// migrations with goose, and provides the Postgres Dialect with which
// adapters/sqlstore runs the store ports on that pool. bootstrap puts
// them together; this package does not import sqlstore, whose Dialect
// and RowSecurity interfaces Dialect satisfies by its methods alone.
//
// Tenant isolation on Postgres has two walls: every statement filters by
// organization_id, and row-level security (migrations/postgres/00006)
// confines each transaction to the tenant Dialect.ScopeSQL names. The
// second wall holds only for a role that is neither superuser nor
// BYPASSRLS; CurrentRole tells bootstrap which role the pool has.
//
// It may import the migrations package, sqlx, lib/pq, goose and the
// standard library; never another adapter nor the application layer.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// defaultMaxOpenConns applies when Open is given no positive limit.
const defaultMaxOpenConns = 10

// Open connects to the database at url, sizes the connection pool and
// checks that the server answers. maxOpenConns <= 0 means 10.
func Open(ctx context.Context, url string, maxOpenConns int) (*sqlx.DB, error) {
	return OpenWith(ctx, sql.Open, url, maxOpenConns)
}

// OpenWith is Open with the pool opened by open (database/sql's Open, or
// a wrapper of it that instruments the driver: bootstrap passes one when
// tracing is on).
func OpenWith(ctx context.Context, open func(driverName, dsn string) (*sql.DB, error), url string, maxOpenConns int) (*sqlx.DB, error) {
	raw, err := open("postgres", oneRoundTrip(url))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := sqlx.NewDb(raw, "postgres")
	if maxOpenConns <= 0 {
		maxOpenConns = defaultMaxOpenConns
	}
	// A bounded pool keeps a burst of requests from exhausting the
	// server's max_connections, which every replica shares. Idle
	// connections are recycled so that a quiet replica gives them back,
	// and old ones are retired so that a failover or a load balancer in
	// front of the server is eventually noticed.
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return db, nil
}

// Dialect is PostgreSQL as adapters/sqlstore needs to know it. One pool
// serves reads and writes alike; concurrent writers take turns on row
// locks.
type Dialect struct{}

// Name names the database in error messages.
func (Dialect) Name() string { return "postgres" }

// BindType is lib/pq's placeholder style, $1, $2...
func (Dialect) BindType() int { return sqlx.DOLLAR }

// RowLock is FOR UPDATE, FOR NO KEY UPDATE...: the strength as given.
func (Dialect) RowLock(strength string) string { return "FOR " + strength }

// JSONArrayAgg is json_agg as text; it is NULL over no rows.
func (Dialect) JSONArrayAgg(expr string) string { return "json_agg(" + expr + ")::text" }

// TextSearch asks, for each word, for an entry of task_words
// (migrations/postgres/00013_task_search.sql, which says why not a GIN
// index): an index probe led by the task's organization, the word and
// the task, or a range of the organization's entries for the word,
// starting at the cursor's id when there is one (the planner does not
// carry tasks.id < ? over to the joined task_id by itself).
func (Dialect) TextSearch(words []string, idOp string, id int64) (string, []any) {
	conds := make([]string, len(words))
	args := make([]any, 0, 2*len(words))
	for i, w := range words {
		conds[i] = `EXISTS (SELECT 1 FROM task_words w WHERE w.organization_id = tasks.organization_id
			AND w.word = ? AND w.task_id = tasks.id`
		args = append(args, w)
		if idOp != "" {
			conds[i] += ` AND w.task_id ` + idOp + ` ?`
			args = append(args, id)
		}
		conds[i] += `)`
	}
	return strings.Join(conds, " AND "), args
}

// Now is the transaction's start time, so that every row one transaction
// touches shows the same moment.
func (Dialect) Now() string { return "now()" }

// ScopeSQL confines the rest of the transaction it runs in to org's rows:
// the row-level security policies compare organization_id with this
// setting. It is transaction-local (SET LOCAL), so it ends with the
// transaction and never reaches the next user of a pooled connection. The
// id is written into the statement rather than passed as a parameter: it
// then goes out in one query string with other statements, and a
// formatted int64 cannot inject anything. It returns no rows, so that in
// such a string the rows are the other statement's.
func (Dialect) ScopeSQL(org int64) string { return scopeSQL(org) }

func scopeSQL(org int64) string {
	return "SET LOCAL app.organization_id = '" + strconv.FormatInt(org, 10) + "'"
}

// Violation classifies unique and foreign-key violations; Postgres names
// the constraint, as the migrations named it.
func (Dialect) Violation(err error) (class, constraint string) {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return "", ""
	}
	switch pqErr.Code {
	case pqerror.UniqueViolation:
		return "unique", pqErr.Constraint
	case pqerror.ForeignKeyViolation:
		return "foreign_key", pqErr.Constraint
	}
	return "", ""
}

// Unavailable reports whether err means the server is not there for us
// now, as lib/pq and database/sql show it:
//   - the dial failed or the connection broke (refused, reset, broken
//     pipe, timed out, the host name did not resolve): a *net.OpError or
//     *net.DNSError, or the syscall errors under them;
//   - the server closed the connection mid-answer: io.EOF or
//     io.ErrUnexpectedEOF, which lib/pq reports as driver.ErrBadConn;
//   - driver.ErrBadConn itself, which database/sql returns once its own
//     retries on fresh connections have failed too (after a restart the
//     pool's stale connections fail this way first);
//   - a server error of class 08 (connection exception), 57P01
//     (terminated by pg_ctl stop -m fast), 57P02 (crash shutdown),
//     57P03 (starting up or shutting down: "the database system is
//     shutting down"), or 53300 (too many connections: the server is
//     there but takes no one more, which a retry may find changed).
//
// A statement the server rejected for what it says (a syntax error, a
// violated constraint, a cancelled query) is none of these.
func (Dialect) Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case pqerror.AdminShutdown, pqerror.CrashShutdown, pqerror.CannotConnectNow, pqerror.TooManyConnections:
			return true
		}
		if pqErr.Code.Class() == pqerror.ClassConnectionException {
			return true
		}
	}
	// Not net.Error: context.DeadlineExceeded satisfies it too, and a
	// statement that ran out of the request's time is a timeout, not a
	// server that is gone (sqlstore tells a deadline spent waiting for a
	// connection apart itself).
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &opErr) || errors.As(err, &dnsErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}

// Role is the database role a pool's connections act as, as far as
// row-level security cares.
type Role struct {
	Name      string
	Superuser bool // superusers are never bound by row-level security
	BypassRLS bool // nor are roles with BYPASSRLS
	// OwnerRights: the role owns the tenant tables, or inherits the rights
	// of their owner. FORCE ROW LEVEL SECURITY binds it all the same, but
	// it could switch row-level security off.
	OwnerRights bool
}

// Bypasses reports whether row-level security does not bind the role.
func (r Role) Bypasses() bool { return r.Superuser || r.BypassRLS }

// CurrentRole returns the role db's connections act as. OwnerRights is
// false until the migrations have created the tasks table.
func CurrentRole(ctx context.Context, db *sqlx.DB) (Role, error) {
	var r struct {
		Name        string `db:"rolname"`
		Superuser   bool   `db:"rolsuper"`
		BypassRLS   bool   `db:"rolbypassrls"`
		OwnerRights bool   `db:"owner_rights"`
	}
	err := db.GetContext(ctx, &r, `
		SELECT r.rolname, r.rolsuper, r.rolbypassrls,
		       coalesce((SELECT pg_has_role(current_user, c.relowner, 'USAGE')
		                 FROM pg_catalog.pg_class c WHERE c.oid = to_regclass('public.tasks')), false) AS owner_rights
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`)
	if err != nil {
		return Role{}, fmt.Errorf("postgres: current role: %w", err)
	}
	return Role{Name: r.Name, Superuser: r.Superuser, BypassRLS: r.BypassRLS, OwnerRights: r.OwnerRights}, nil
}

// oneRoundTrip turns on lib/pq's binary_parameters unless the DSN sets it.
// Without it, every statement with arguments costs two round trips (parse
// and describe, then bind and execute); with it, one. Under row-level
// security each request runs several short statements, so this halves
// most of its waiting on the network.
func oneRoundTrip(dsn string) string {
	if strings.Contains(dsn, "binary_parameters") {
		return dsn
	}
	if u, err := neturl.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("binary_parameters", "yes")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " binary_parameters=yes"
}
