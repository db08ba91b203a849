package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/domain"
)

// Ceilings: what the machine can do for a scenario without TaskFlow's own
// work, measured in the same run with the same load generator.
//
//   - HTTP: a minimal Fiber app (the service's Fiber version: same module)
//     answering the exact bytes and headers the service answered, running
//     inside this process on loopback. The service is another process; in
//     both cases the generator and the server share the machine's cores.
//   - Database: the scenario's own SQL (sqlmirror.go), wrapped as the
//     store wraps it for row-level security (a read: one simple-protocol
//     query confining its implicit transaction to the tenant; a write: a
//     transaction whose first statement carries BEGIN and the tenant, and
//     whose COMMIT goes out behind SELECT 1), in a tight
//     loop through the service's own pool constructor (postgres.Open:
//     lib/pq, its settings, the service's pool size), as the service's
//     role, so that the policies bind as they bind the service (roles.go).
//     The session check the service makes per request is not part of it
//     (it is cached). Two informative list ceilings run through a
//     superuser pool of the same size, whom the policies do not bind:
//     db_uncached_list_norls (the same wrapped statements: the difference
//     is what the policies cost) and db_uncached_list_bare (the statements
//     alone, bound, no transaction, no tenant: what wrapper and policies
//     cost together).
//   - Login: raw bcrypt verifications at the service's cost.

// startCeilingServer serves each captured response on its route.
func startCeilingServer(routes map[string]captured) (string, func(), error) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	for path, c := range routes {
		app.Get(path, func(ctx *fiber.Ctx) error {
			h := &ctx.Response().Header
			for _, kv := range c.headers {
				h.Add(kv[0], kv[1])
			}
			return ctx.Send(c.body)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() { _ = app.Listener(ln) }()
	stop := func() { _ = app.ShutdownWithTimeout(5 * time.Second) }
	return "http://" + ln.Addr().String(), stop, nil
}

// openPool opens the database with the service's own constructor, so the
// ceiling runs through the same driver settings and pool limits.
func openPool(ctx context.Context, url string, size int) (*sql.DB, error) {
	db, err := postgres.Open(ctx, url, size)
	if err != nil {
		return nil, err
	}
	return db.DB, nil
}

// taskRow holds a scanned task, as the store scans it into its row struct.
type taskRow struct {
	org, id, createdBy, version int64
	title, description, status  string
	assignee                    sql.NullInt64
	priority                    int64
	dueAt, completedAt          sql.NullTime
	createdAt, updatedAt        time.Time
	labels                      string
}

type scanner interface{ Scan(dest ...any) error }

func scanTask(s scanner, r *taskRow) error {
	return s.Scan(&r.org, &r.id, &r.title, &r.description, &r.status, &r.assignee, &r.priority, &r.dueAt,
		&r.completedAt, &r.createdBy, &r.createdAt, &r.updatedAt, &r.version, &r.labels)
}

// scanTaskColumns is scanTask for a RETURNING of the columns alone.
func scanTaskColumns(s scanner, r *taskRow) error {
	return s.Scan(&r.org, &r.id, &r.title, &r.description, &r.status, &r.assignee, &r.priority, &r.dueAt,
		&r.completedAt, &r.createdBy, &r.createdAt, &r.updatedAt, &r.version)
}

// dbListOp runs the list statement for each key, wrapped as the store
// wraps a read (scopedQuery: one round trip).
func dbListOp(db *sql.DB, key func(seq uint64) listKey) op {
	return func(ctx context.Context, _ int, seq uint64) (bool, error) {
		k := key(seq)
		q, args := listSQL(k.org, k.status, k.before, k.limit, k.offset)
		rows, err := scopedQuery(ctx, db, k.org, q, args)
		if err != nil {
			return false, err
		}
		return false, scanPage(rows, k)
	}
}

// dbListBareOp runs the list statement alone: one query, no transaction,
// no tenant. Through the application role the policies would then hide
// every row, so db must be a pool of a role they do not bind (the
// superuser's): this is the statement's own cost.
func dbListBareOp(db *sql.DB, key func(seq uint64) listKey) op {
	return func(ctx context.Context, _ int, seq uint64) (bool, error) {
		k := key(seq)
		q, args := listSQL(k.org, k.status, k.before, k.limit, k.offset)
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return false, err
		}
		return false, scanPage(rows, k)
	}
}

// scanPage scans a list's rows and checks that the page is full (the
// uncached keys all ask for full pages: limit+1 rows), so that a ceiling
// never measures an empty answer, as a query the policies hide would get.
func scanPage(rows *sql.Rows, k listKey) error {
	defer rows.Close()
	var r taskRow
	n := 0
	for rows.Next() {
		if err := scanTask(rows, &r); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != k.limit+1 {
		return fmt.Errorf("list of organization %d read %d rows, want limit+1 = %d", k.org, n, k.limit+1)
	}
	return nil
}

// dbGetOp reads one task by (organization, id).
func dbGetOp(db *sql.DB, target func(seq uint64) (org, id int64)) op {
	return func(ctx context.Context, _ int, seq uint64) (bool, error) {
		org, id := target(seq)
		var r taskRow
		return false, scanTask(scopedQueryRow(ctx, db, org, sqlGetTask, []any{org, id}), &r)
	}
}

// dbInsertOp inserts a task as POST /tasks {"title":"bench task",
// "status":"CREATED"} makes the store do.
func dbInsertOp(db *sql.DB, o org) op {
	return func(ctx context.Context, _ int, _ uint64) (bool, error) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		var id int64
		return false, scopedTx(ctx, db, o.id, func(tx *lazyTx) error {
			return tx.QueryRowContext(ctx, sqlInsertTask,
				o.id, "bench task", "", "CREATED", sql.NullInt64{}, 2, sql.NullTime{}, sql.NullTime{}, o.adminID, now, now, 1,
				domain.SearchDocument("bench task", "")).Scan(&id)
		})
	}
}

// idPool hands out one-shot task ids.
type idPool struct {
	ids  []int64
	next atomic.Int64
}

func (p *idPool) take() (int64, bool) {
	i := p.next.Add(1) - 1
	if i >= int64(len(p.ids)) {
		return 0, false
	}
	return p.ids[i], true
}

// dbTransitionOp moves a CREATED task to IN_PROGRESS the way
// TaskStore.Update does: one transaction, row lock, update.
func dbTransitionOp(db *sql.DB, o org, pool *idPool) op {
	return func(ctx context.Context, _ int, _ uint64) (bool, error) {
		id, ok := pool.take()
		if !ok {
			return true, nil
		}
		return false, scopedTx(ctx, db, o.id, func(tx *lazyTx) error {
			var r taskRow
			if err := scanTask(tx.QueryRowContext(ctx, sqlLockTask, o.id, id), &r); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			if r.status != "CREATED" {
				return fmt.Errorf("task %d is %s, not CREATED", id, r.status)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			if err := scanTaskColumns(tx.QueryRowContext(ctx, sqlUpdateTask,
				r.title, r.description, "IN_PROGRESS", r.assignee, r.priority, r.dueAt, r.completedAt, now,
				domain.SearchDocument(r.title, r.description), o.id, id), &r); err != nil {
				return fmt.Errorf("update: %w", err)
			}
			return nil
		})
	}
}

// bcryptOp verifies the password against a hash of the service's cost.
func bcryptOp(cost int) (op, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(seedPassword), cost)
	if err != nil {
		return nil, err
	}
	return func(context.Context, int, uint64) (bool, error) {
		return false, bcrypt.CompareHashAndPassword(hash, []byte(seedPassword))
	}, nil
}
