package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.Notifier = (*Postgres)(nil)

// PostgresChannel is the NOTIFY channel of committed events. NOTIFY is
// per database, so two installations on one server never hear each other.
const PostgresChannel = "taskflow_events"

// Postgres is the Notifier of replicas that share a Postgres database:
// Publish is a NOTIFY, Listen holds one LISTEN connection (lib/pq's
// Listener, which reconnects on its own).
type Postgres struct {
	db  *sql.DB
	dsn string
	log *slog.Logger
	// probeWait is how long Listen waits for its probe.
	probeWait time.Duration
}

// NewPostgres publishes through db and listens on a connection of its own
// to dsn. db may go through a pooler (PgBouncer): a NOTIFY is one
// statement. dsn may not, and Listen checks it does not before it sends
// LISTEN (see ownBackend).
func NewPostgres(db *sql.DB, dsn string, log *slog.Logger) *Postgres {
	return &Postgres{db: db, dsn: dsn, log: log, probeWait: 5 * time.Second}
}

// probePrefix starts the payload of the probe Listen sends itself; no
// listener takes it for an event (parsePayload refuses it).
const probePrefix = "probe:"

// Publish sends "<org>:<last>" on PostgresChannel.
func (p *Postgres) Publish(ctx context.Context, org domain.OrgID, last int64) error {
	if _, err := p.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, PostgresChannel, payload(org, last)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Listen listens until ctx ends. A reconnection is reported as fn(0, 0):
// what was sent while the connection was down is lost. When dsn goes
// through a pooler, it sends no LISTEN, says so, and waits for ctx: the
// live streams rely on their polling.
func (p *Postgres) Listen(ctx context.Context, fn func(domain.OrgID, int64)) error {
	own, err := p.waitOwnBackend(ctx)
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, errNoStartupPID):
		p.log.Error("event notifications: not listening: cannot tell a pooler from Postgres; live streams rely on polling",
			"err", err.Error())
		<-ctx.Done()
		return nil
	case err != nil:
		return err
	case !own:
		p.log.Warn("event notifications: not listening: the listener's URL (NOTIFY_DATABASE_URL, else DATABASE_URL) " +
			"reaches Postgres through a connection pooler, such as PgBouncer, which would hand the LISTEN's server " +
			"connection to other clients; point NOTIFY_DATABASE_URL at Postgres directly. Until then live streams rely on polling")
		<-ctx.Done()
		return nil
	}
	l := pq.NewListener(p.dsn, 100*time.Millisecond, 2*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			p.log.Warn("event notifications: postgres listener disconnected", "err", fmt.Sprint(err))
		case pq.ListenerEventReconnected:
			p.log.Info("event notifications: postgres listener reconnected")
		case pq.ListenerEventConnected:
			// The first connection: nothing to report.
		}
	})
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	if err := l.Listen(PostgresChannel); err != nil {
		_ = l.Close()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen %s: %w", PostgresChannel, err)
	}
	// A Ping now and then finds a connection that died silently (the
	// listener only learns of it when it next reads).
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	probe, probeTimeout := p.sendProbe(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-l.Notify:
			if !ok {
				return nil
			}
			if n == nil { // reconnected: anything may have been missed
				fn(0, 0)
				continue
			}
			if probe != "" && n.Extra == probe {
				probe, probeTimeout = "", nil
				p.log.Debug("event notifications: the postgres listener heard its probe")
				continue
			}
			if org, last, ok := parsePayload(n.Extra); ok {
				fn(org, last)
			}
		case <-probeTimeout:
			probe, probeTimeout = "", nil
			p.log.Warn("event notifications: the postgres listener does not hear NOTIFY (a probe sent through DATABASE_URL "+
				"did not arrive): NOTIFY_DATABASE_URL must reach the database DATABASE_URL reaches. Until then live streams "+
				"rely on polling", "waited", p.probeWait.String())
		case <-ping.C:
			go func() { _ = l.Ping() }()
		}
	}
}

// sendProbe publishes a NOTIFY the listener should hear, and returns its
// payload and a channel that fires when it is overdue; with "" and nil
// when it could not be sent (the server is down: that is reported
// elsewhere).
func (p *Postgres) sendProbe(ctx context.Context) (string, <-chan time.Time) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	probe := probePrefix + hex.EncodeToString(nonce[:])
	if _, err := p.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, PostgresChannel, probe); err != nil {
		p.log.Debug("event notifications: the postgres listener's probe was not sent", "err", err.Error())
		return "", nil
	}
	return probe, time.After(p.probeWait)
}

// errNoStartupPID: this build of lib/pq keeps the start-up process id
// elsewhere (startupPID).
var errNoStartupPID = errors.New("lib/pq keeps no start-up process id where this build looks for it")

// waitOwnBackend is ownBackend, retried while the server cannot be
// reached (at start-up the database may come up after the service).
// The first failure is logged; an error is returned only for a dsn lib/pq
// cannot parse, and errNoStartupPID.
func (p *Postgres) waitOwnBackend(ctx context.Context) (bool, error) {
	connector, err := pq.NewConnector(p.dsn)
	if err != nil {
		return false, fmt.Errorf("listener URL: %w", err)
	}
	for wait, logged := 100*time.Millisecond, false; ; wait = min(2*wait, 2*time.Second) {
		own, err := ownBackend(ctx, connector)
		if err == nil || errors.Is(err, errNoStartupPID) || ctx.Err() != nil {
			return own, err
		}
		if !logged {
			p.log.Warn("event notifications: cannot reach Postgres to start listening; retrying", "err", err.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(wait):
		}
	}
}

// ownBackend tells whether a session connector opens is a Postgres
// backend of its own, which LISTEN needs, rather than a pooler's client
// connection. A pooler in transaction mode accepts LISTEN on whichever
// server connection it lends, then lends that connection to other
// clients while notifications keep arriving on it; PgBouncer then takes
// a notification that comes in while it checks the connection
// (server_check_query) for the end of the check, and hands the
// connection on before the check's answer, which the next client reads
// as the answer to its own statement, and the rest of the stream shifts.
// NOTIFY reaches the listener, and nothing else, only where each session
// is a backend.
//
// The test: a backend announces its process id at start-up
// (BackendKeyData) and pg_backend_pid() returns the same; a pooler
// announces a key of its own (PgBouncer, in any pool mode, and so do
// other poolers), which the server it lends never has. A plain TCP proxy
// passes the backend's own key on, and LISTEN through it works.
func ownBackend(ctx context.Context, connector driver.Connector) (bool, error) {
	c, err := connector.Connect(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = c.Close() }()
	announced, ok := startupPID(c)
	if !ok {
		return false, fmt.Errorf("%w (%T)", errNoStartupPID, c)
	}
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return false, fmt.Errorf("lib/pq connection %T cannot query", c)
	}
	rows, err := q.QueryContext(ctx, "SELECT pg_backend_pid()", nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = rows.Close() }()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil {
		return false, err
	}
	pid, ok := v[0].(int64)
	if !ok {
		return false, fmt.Errorf("pg_backend_pid() returned %T", v[0])
	}
	return pid == announced, nil
}

// startupPID returns the process id of the BackendKeyData message the
// lib/pq connection c received at start-up. lib/pq keeps it for cancel
// requests and does not export it, so it is read by reflection; the
// notifier's tests (direct: the same id, through PgBouncer: another) fail
// if an upgrade of lib/pq moves it.
func startupPID(c driver.Conn) (int64, bool) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, false
	}
	f := v.Elem().FieldByName("pid")
	if !f.IsValid() || !f.CanInt() {
		return 0, false
	}
	return f.Int(), true
}

func payload(org domain.OrgID, last int64) string {
	return strconv.FormatInt(int64(org), 10) + ":" + strconv.FormatInt(last, 10)
}

func parsePayload(s string) (domain.OrgID, int64, bool) {
	o, l, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	org, err1 := strconv.ParseInt(o, 10, 64)
	last, err2 := strconv.ParseInt(l, 10, 64)
	if err1 != nil || err2 != nil || org < 1 {
		return 0, 0, false
	}
	return domain.OrgID(org), last, true
}
