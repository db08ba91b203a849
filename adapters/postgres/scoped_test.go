package postgres_test

import (
	"database/sql"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/domain"
)

// TestScopedStatement_WritesArgumentsWherePostgresSeesPlaceholders holds
// the placeholder scan to Postgres's lexical rules: no replacement inside
// a quoted string, a quoted identifier, a dollar-quoted string or a
// comment, and $10 is not $1 followed by 0.
func TestScopedStatement_WritesArgumentsWherePostgresSeesPlaceholders(t *testing.T) {
	args := []any{int64(1), "two", int64(3), int64(4), int64(5), int64(6), int64(7), int64(8), int64(9), "ten"}
	for _, c := range []struct{ query, want string }{
		{`SELECT $1, $2`, `SELECT '1', 'two'`},
		{`SELECT $10, $1`, `SELECT 'ten', '1'`},
		{`SELECT '$1', "$2", $3`, `SELECT '$1', "$2", '3'`},
		{`SELECT 'it''s $1', $2`, `SELECT 'it''s $1', 'two'`},
		{"SELECT $1 -- $2\n, $3", "SELECT '1' -- $2\n, '3'"},
		{`SELECT /* $1 */ $2`, `SELECT /* $1 */ 'two'`},
		{`SELECT $$ $1 $$, $tag$ $2 $tag$, $3`, `SELECT $$ $1 $$, $tag$ $2 $tag$, '3'`},
		{`SELECT a$1 FROM t WHERE x = $4`, `SELECT a$1 FROM t WHERE x = '4'`},
	} {
		got, ok := postgres.Dialect{}.ScopedStatement(7, false, c.query, args)
		if !ok {
			t.Errorf("%q: not inlined", c.query)
			continue
		}
		want := "SET LOCAL app.organization_id = '7'; " + c.want
		if got != want {
			t.Errorf("%q:\n got %q\nwant %q", c.query, got, want)
		}
	}
	if _, ok := (postgres.Dialect{}).ScopedStatement(7, false, `SELECT $2`, []any{int64(1)}); ok {
		t.Error("a placeholder without its argument was inlined")
	}
	if _, ok := (postgres.Dialect{}).ScopedStatement(7, false, `SELECT $1`, []any{struct{}{}}); ok {
		t.Error("an argument the driver does not know was inlined")
	}
	got, _ := postgres.Dialect{}.ScopedStatement(7, true, `SELECT 1`, nil)
	if !strings.HasPrefix(got, "SET LOCAL transaction_read_only = on; SET LOCAL app.organization_id = '7'; ") {
		t.Errorf("read only: %q", got)
	}
}

// TestScopedStatement_LiteralsReadAsTheBoundParametersDo runs each value
// both ways on the real server, bound as the store binds it and written
// in as a literal, and compares what Postgres made of it; hostile strings
// included. A string holding NUL fails both ways with the same error, and
// nothing after it runs.
func TestScopedStatement_LiteralsReadAsTheBoundParametersDo(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	when := time.Date(2026, 12, 1, 7, 44, 26, 123456000, time.FixedZone("x", 3600))
	for _, c := range []struct {
		name, expr string
		arg        any
	}{
		{"int", "$1::bigint::text", int64(-42)},
		{"int_compared", "(41 < $1)::text", int64(42)},
		{"limit", "(SELECT count(*) FROM (SELECT 1 FROM generate_series(1, 10) LIMIT $1) s)::text", int64(3)},
		{"float", "$1::float8::text", 2.5},
		{"bool", "$1::boolean::text", true},
		{"null", "coalesce($1::text, 'null')", nil},
		{"nullint", "coalesce($1::bigint::text, 'null')", sql.NullInt64{}},
		{"time", "$1::timestamptz::text", when},
		{"time_compared", "($1 < now())::text", when},
		{"quote", "$1::text", `it's '' \' "q"`},
		{"backslash", "$1::text", `C:\path\to\' OR 1=1 --`},
		{"dollar", "$1::text", `$$; DROP TABLE installation; $$`},
		{"unicode", "$1::text", "élan 日本 🙂"},
		{"semicolon", "$1::text", `x'; SET LOCAL app.organization_id = '1`},
		{"bytea", "encode($1::bytea, 'hex')", []byte{0, 1, 0xfe, '\\', '\''}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var bound, lit sql.NullString
			if err := db.QueryRowContext(ctx, "SELECT "+c.expr, c.arg).Scan(&bound); err != nil {
				t.Fatalf("bound: %v", err)
			}
			s, ok := postgres.Dialect{}.ScopedStatement(7, true, "SELECT "+c.expr, []any{c.arg})
			if !ok {
				t.Fatal("not inlined")
			}
			if err := db.QueryRowContext(ctx, s).Scan(&lit); err != nil {
				t.Fatalf("literal %q: %v", s, err)
			}
			if bound != lit {
				t.Errorf("bound %v, literal %v (%s)", bound, lit, s)
			}
		})
	}
	t.Run("nul", func(t *testing.T) {
		var v string
		errBound := db.QueryRowContext(ctx, "SELECT $1::text", "a\x00b").Scan(&v)
		s, ok := postgres.Dialect{}.ScopedStatement(7, true, "SELECT $1::text, $2::text", []any{"a\x00'; SELECT 1; --", "x"})
		if !ok {
			t.Fatal("not inlined")
		}
		errLit := db.QueryRowContext(ctx, s).Scan(&v, &v)
		var pb, pl *pq.Error
		if !errors.As(errBound, &pb) || !errors.As(errLit, &pl) || pb.Code != pl.Code {
			t.Fatalf("bound: %v, literal: %v: want the same server error", errBound, errLit)
		}
	})
	t.Run("tenant_ends_with_the_statement", func(t *testing.T) {
		s, _ := postgres.Dialect{}.ScopedStatement(7, true, "SELECT current_setting('app.organization_id')", nil)
		var in, after sql.NullString
		if err := db.QueryRowContext(ctx, s).Scan(&in); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "SELECT current_setting('app.organization_id', true)").Scan(&after); err != nil {
			t.Fatal(err)
		}
		if in.String != "7" || after.String != "" {
			t.Fatalf("tenant in the statement %q, after it %q: want 7, then none", in.String, after.String)
		}
	})
	t.Run("read_only", func(t *testing.T) {
		s, _ := postgres.Dialect{}.ScopedStatement(7, true, "CREATE TABLE scoped_read_only (x int)", nil)
		_, err := db.ExecContext(ctx, s)
		var pe *pq.Error
		if !errors.As(err, &pe) || pe.Code != "25006" {
			t.Fatalf("a write in a read-only scoped statement: %v, want read_only_sql_transaction (25006)", err)
		}
	})
}

// BenchmarkScopedRead compares, on one task read by (organization, id) as
// the application role, the wrapper a scoped read had (BEGIN READ ONLY;
// set_config; the statement; COMMIT: four round trips) with
// ScopedStatement's one round trip, and with the statement alone (one
// round trip, no wrapper; the application role sees nothing without its
// tenant, so this one reads as the server's superuser, whom the
// policies do not bind).
//
//	go test -run '^$' -bench ScopedRead -benchtime 3s ./adapters/postgres
func BenchmarkScopedRead(b *testing.B) {
	appURL := migratedAppURL(b)
	app := open(b, appURL)
	ctx := b.Context()
	s := newStore(app).Stores()
	now := time.Now()
	org, err := domain.NewOrganization("bench scoped read", now)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, org); err != nil {
		b.Fatal(err)
	}
	u := &domain.User{OrgID: org.ID, Email: "bench-scoped@example.test", PasswordHash: "$2a$10$hash", Role: domain.RoleAdmin, CreatedAt: now}
	if err := s.Users.Create(ctx, u); err != nil {
		b.Fatal(err)
	}
	tk, err := domain.NewTask(org.ID, u.ID, "a task", "", nil, now)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Tasks.Create(ctx, tk); err != nil {
		b.Fatal(err)
	}
	const q = `SELECT id, title FROM tasks WHERE organization_id = $1 AND id = $2`
	args := []any{int64(org.ID), int64(tk.ID)}
	read := func(b *testing.B, run func() (*sql.Rows, func() error, error)) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rows, done, err := run()
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if err := rows.Close(); err != nil {
					b.Fatal(err)
				}
				if err := done(); err != nil {
					b.Fatal(err)
				}
				if n != 1 {
					b.Fatalf("%d rows, want 1", n)
				}
			}
		})
	}
	nothing := func() error { return nil }
	b.Run("transaction", func(b *testing.B) {
		read(b, func() (*sql.Rows, func() error, error) {
			tx, err := app.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				return nil, nil, err
			}
			if _, err := tx.ExecContext(ctx, postgres.Dialect{}.ScopeSQL(int64(org.ID))); err != nil {
				_ = tx.Rollback()
				return nil, nil, err
			}
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				_ = tx.Rollback()
				return nil, nil, err
			}
			return rows, tx.Commit, nil
		})
	})
	b.Run("one_round_trip", func(b *testing.B) {
		stmt, ok := postgres.Dialect{}.ScopedStatement(int64(org.ID), true, q, args)
		if !ok {
			b.Fatal("not inlined")
		}
		read(b, func() (*sql.Rows, func() error, error) {
			rows, err := app.QueryContext(ctx, stmt)
			return rows, nothing, err
		})
	})
	b.Run("statement_alone", func(b *testing.B) {
		su, err := url.Parse(pgtest.ServerURL())
		if err != nil {
			b.Fatal(err)
		}
		au, err := url.Parse(appURL)
		if err != nil {
			b.Fatal(err)
		}
		su.Path = au.Path
		super := open(b, su.String())
		read(b, func() (*sql.Rows, func() error, error) {
			rows, err := super.QueryContext(ctx, q, args...)
			return rows, nothing, err
		})
	})
}

// BenchmarkScopedWrite compares a one-statement write (a task's INSERT)
// in database/sql's transaction with the tenant as a statement of its
// own (BEGIN; set_config; INSERT; COMMIT: four round trips) with the
// store's transaction (BEGIN, tenant and INSERT in one query string;
// COMMIT: two).
//
//	go test -run '^$' -bench ScopedWrite -benchtime 3s ./adapters/postgres
func BenchmarkScopedWrite(b *testing.B) {
	app := open(b, migratedAppURL(b))
	ctx := b.Context()
	store := newStore(app)
	s := store.Stores()
	now := time.Now()
	org, err := domain.NewOrganization("bench scoped write", now)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, org); err != nil {
		b.Fatal(err)
	}
	u := &domain.User{OrgID: org.ID, Email: "bench-write@example.test", PasswordHash: "$2a$10$hash", Role: domain.RoleAdmin, CreatedAt: now}
	if err := s.Users.Create(ctx, u); err != nil {
		b.Fatal(err)
	}
	task := func(b *testing.B) *domain.Task {
		tk, err := domain.NewTask(org.ID, u.ID, "a task", "", nil, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		return tk
	}
	b.Run("transaction", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tk := task(b)
				tx, err := app.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, `SELECT set_config('app.organization_id', $1, true)`, strconv.FormatInt(int64(org.ID), 10)); err != nil {
					b.Fatal(err)
				}
				var id int64
				if err := tx.QueryRowContext(ctx, `INSERT INTO tasks (organization_id, title, description, status, priority, created_by, created_at, updated_at, version, search_words)
					VALUES ($1, $2, '', 'CREATED', 2, $3, $4, $4, 1, '') RETURNING id`, int64(org.ID), tk.Title, int64(u.ID), tk.CreatedAt).Scan(&id); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("store", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Tasks.Create(ctx, task(b)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
