package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/adapters/storetest"
	"github.com/taskflow/taskflow/domain"
)

// TestDialect_Unavailable holds the classification to the errors lib/pq
// and database/sql really return: each case makes its error by doing what
// causes it (a dial to a closed port, a server that answers the startup
// with what Postgres sends while it shuts down, a backend terminated as
// pg_ctl stop -m fast terminates it), not by building the error value.
func TestDialect_Unavailable(t *testing.T) {
	t.Parallel()
	// ping opens a fresh pool to url and pings it, so that the error is
	// what the first request after a restart of the service would get.
	ping := func(t *testing.T, url string) error {
		t.Helper()
		db, err := sql.Open("postgres", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return db.PingContext(ctx)
	}
	fakeURL := func(t *testing.T, serve func(net.Conn)) string {
		return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", fakeServer(t, serve))
	}
	shared := func(t *testing.T) *sqlx.DB { return open(t, pgtest.NewDatabase(t)) }

	cases := []struct {
		name string
		want bool
		err  func(t *testing.T) error
		// code, when set, is the SQLSTATE the error must carry, to show
		// that the case made the server error it is named after.
		code string
	}{
		{name: "dial_to_a_closed_port_is_refused", want: true, err: func(t *testing.T) error {
			return ping(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", faulttest.FreePort(t)))
		}},
		{name: "server_shutting_down_at_connect_57P03", want: true, code: "57P03", err: func(t *testing.T) error {
			return ping(t, fakeURL(t, answerStartup("FATAL", "57P03", "the database system is shutting down")))
		}},
		{name: "server_starting_up_at_connect_57P03", want: true, code: "57P03", err: func(t *testing.T) error {
			return ping(t, fakeURL(t, answerStartup("FATAL", "57P03", "the database system is starting up")))
		}},
		{name: "too_many_connections_53300", want: true, code: "53300", err: func(t *testing.T) error {
			return ping(t, fakeURL(t, answerStartup("FATAL", "53300", "sorry, too many clients already")))
		}},
		{name: "connection_failure_class_08", want: true, code: "08006", err: func(t *testing.T) error {
			return ping(t, fakeURL(t, answerStartup("FATAL", "08006", "connection failure")))
		}},
		{name: "server_closes_the_connection_at_once_EOF", want: true, err: func(t *testing.T) error {
			return ping(t, fakeURL(t, func(c net.Conn) { _ = c.Close() }))
		}},
		{name: "server_resets_the_connection", want: true, err: func(t *testing.T) error {
			return ping(t, fakeURL(t, func(c net.Conn) {
				_ = c.(*net.TCPConn).SetLinger(0) // close with RST, not FIN
				_ = c.Close()
			}))
		}},
		{name: "session_terminated_by_the_server_57P01", want: true, err: func(t *testing.T) error {
			db := shared(t)
			conn, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var pid int
			if err := conn.QueryRowContext(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			// What pg_ctl stop -m fast does to every backend: SIGTERM,
			// which ends the session with FATAL 57P01.
			if _, err := db.ExecContext(t.Context(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
			var one int
			return conn.QueryRowContext(t.Context(), `SELECT 1`).Scan(&one)
		}},
		{name: "wrong_password_28P01_is_a_configuration_error", want: false, code: "28P01", err: func(t *testing.T) error {
			return ping(t, fakeURL(t, answerStartup("FATAL", "28P01", `password authentication failed for user "postgres"`)))
		}},
		{name: "syntax_error", want: false, code: "42601", err: func(t *testing.T) error {
			_, err := shared(t).ExecContext(t.Context(), `SELEC 1`)
			return err
		}},
		{name: "unique_violation", want: false, code: "23505", err: func(t *testing.T) error {
			db := shared(t)
			if _, err := db.ExecContext(t.Context(), `CREATE TABLE u (k int PRIMARY KEY); INSERT INTO u VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			_, err := db.ExecContext(t.Context(), `INSERT INTO u VALUES (1)`)
			return err
		}},
		{name: "statement_timeout_57014_is_not_the_server_gone", want: false, code: "57014", err: func(t *testing.T) error {
			tx, err := shared(t).BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback() //nolint:errcheck // the transaction failed anyway
			if _, err := tx.ExecContext(t.Context(), `SET LOCAL statement_timeout = 1`); err != nil {
				t.Fatal(err)
			}
			_, err = tx.ExecContext(t.Context(), `SELECT pg_sleep(1)`)
			return err
		}},
		{name: "request_deadline_during_a_slow_statement_is_a_timeout", want: false, err: func(t *testing.T) error {
			db := shared(t)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			_, err := db.ExecContext(ctx, `SELECT pg_sleep(2)`)
			return err
		}},
		{name: "server_silent_past_connect_timeout", want: true, err: func(t *testing.T) error {
			// A server that takes the connection and never answers the
			// startup (a hung or half-started server): connect_timeout
			// ends the wait with an i/o timeout.
			return ping(t, fakeURL(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })+"&connect_timeout=1")
		}},
		{name: "no_rows", want: false, err: func(t *testing.T) error {
			var one int
			return shared(t).QueryRowContext(t.Context(), `SELECT 1 WHERE false`).Scan(&one)
		}},
		{name: "client_went_away", want: false, err: func(*testing.T) error { return context.Canceled }},
		{name: "bad_conn_as_database_sql_returns_it", want: true, err: func(*testing.T) error {
			return fmt.Errorf("task store: get: %w", driver.ErrBadConn)
		}},
		{name: "unexpected_EOF_from_the_driver", want: true, err: func(*testing.T) error {
			return fmt.Errorf("task store: get: %w", io.ErrUnexpectedEOF)
		}},
		{name: "nil", want: false, err: func(*testing.T) error { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.err(t)
			if tc.want && err == nil {
				t.Fatal("the case produced no error")
			}
			if tc.code != "" {
				var pqErr *pq.Error
				if !errors.As(err, &pqErr) || string(pqErr.Code) != tc.code {
					t.Fatalf("the case produced %v (%T), want a pq.Error with SQLSTATE %s", err, err, tc.code)
				}
			}
			if got := (postgres.Dialect{}).Unavailable(err); got != tc.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

// fakeServer listens on a free loopback port and hands each connection it
// accepts to serve; it stops when t ends. It stands in for a Postgres
// server in the one moment the case needs: a real server cannot be made
// to answer "shutting down" or "too many clients" on demand.
func fakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// answerStartup reads a client's startup message and answers it with an
// ErrorResponse, as a Postgres server answers a connection it refuses
// (protocol 3: 'E', the length, then typed fields, each a C string, and a
// final zero byte), then closes the connection.
func answerStartup(severity, code, message string) func(net.Conn) {
	return func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var n int32
		if err := binary.Read(c, binary.BigEndian, &n); err != nil || n < 8 || n > 1<<16 {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(n-4)); err != nil {
			return
		}
		var fields bytes.Buffer
		for _, f := range []struct {
			typ byte
			val string
		}{{'S', severity}, {'V', severity}, {'C', code}, {'M', message}} {
			fields.WriteByte(f.typ)
			fields.WriteString(f.val)
			fields.WriteByte(0)
		}
		fields.WriteByte(0)
		msg := []byte{'E'}
		msg = binary.BigEndian.AppendUint32(msg, uint32(4+fields.Len()))
		_, _ = c.Write(append(msg, fields.Bytes()...))
	}
}

// TestStores_DatabaseGone_IsUnavailable runs the store contract for a
// database that goes away on a Postgres server of the test's own, stopped
// as an operator stops it (pg_ctl stop -m fast) and started again: every
// store call fails as unavailable, and the same pool serves again after.
func TestStores_DatabaseGone_IsUnavailable(t *testing.T) {
	t.Parallel()
	pg := faulttest.StartPostgres(t)
	db := open(t, pg.URL())
	migrate(t, db.DB, "up")
	store := newStore(db)
	storetest.RunUnavailable(t, storetest.Gone{
		Stores: store.Stores(), Tx: store, Pinger: store,
		Stop: pg.Stop, Start: pg.Start,
	})
}

var _ sqlstore.Dialect = postgres.Dialect{}

// TestStores_NoConnectionBeforeTheDeadline_IsUnavailable: a request whose
// time runs out while it waits for a connection (every one of the pool is
// busy, or the dial hangs) was not served by the database: unavailable,
// not an internal error.
func TestStores_NoConnectionBeforeTheDeadline_IsUnavailable(t *testing.T) {
	t.Parallel()
	db, err := postgres.Open(t.Context(), migratedAppURL(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	held, err := db.Conn(t.Context()) // the pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = newStore(db).Stores().Tasks.Get(ctx, 1, 1)
	if !errors.Is(err, domain.ErrDatabaseUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Tasks.Get with no connection free before the deadline: %v, want domain.ErrDatabaseUnavailable caused by the deadline", err)
	}
}
