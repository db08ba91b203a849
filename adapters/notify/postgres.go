package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
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
// to dsn. db may go through a pooler in transaction mode (PgBouncer): a
// NOTIFY is one statement. dsn may not: such a pooler accepts LISTEN, then
// hands the server connection to its next client, and the notifications
// go nowhere. Listen finds that out with a probe and says so.
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
// what was sent while the connection was down is lost.
func (p *Postgres) Listen(ctx context.Context, fn func(domain.OrgID, int64)) error {
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
				"did not arrive); a pooler in transaction mode, such as PgBouncer, cannot carry LISTEN: point NOTIFY_DATABASE_URL "+
				"at Postgres directly. Until then live streams rely on polling", "waited", p.probeWait.String())
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
