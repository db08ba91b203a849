package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"time"
)

// ceilingsFor measures the ceilings scenario is judged against (and the
// informative ones that go with it) that have not been measured yet for
// the current backend. It runs right before the scenario's first
// measurement on each backend, with the service started but idle: on a
// shared machine a ceiling taken minutes earlier may have met different
// neighbours, and the database has grown since (the Redis backend's
// scenarios run after the memory backend's).
func (b *bench) ceilingsFor(ctx context.Context, scenario string) error {
	o, ds := b.o, b.ds
	have := func(name string) bool { c := b.ceilings[name]; return c != nil && c.backend == b.backend }
	switch scenario {
	case scCachedList, scGetTask:
		base, err := b.ceilingServer(ctx)
		if err != nil {
			return err
		}
		if scenario == scCachedList && !have("http_list") {
			if err := b.ceilingHTTP(ctx, "http_list", "Fiber, the cached list's bytes", genCachedList(base, ds)); err != nil {
				return err
			}
		}
		if scenario == scGetTask && !have("http_get") {
			if err := b.ceilingHTTP(ctx, "http_get", "Fiber, GET /tasks/{id}'s bytes", genGetTask(base, ds)); err != nil {
				return err
			}
		}
		if scenario == scGetTask && !have("db_get") {
			if _, err := b.ceiling(ctx, "db_get", "SQL: task by (org,id)", o.conc, o.duration, fixedOp(dbGetOp(b.appDB, func(seq uint64) (int64, int64) {
				org := ds.read[pick(seq, len(ds.read))]
				return org.id, taskOf(org, seq/uint64(len(ds.read)))
			}))); err != nil {
				return err
			}
		}
	case scUncachedList:
		// The three read the same keys: the store's wrapped statement as
		// the service's role (the ceiling), then as the superuser (the
		// policies do not bind it: what they cost) and bare (no wrapper:
		// what the wrapper and the policies cost together).
		off := b.freshKeys()
		keys := func(seq uint64) listKey { return uncachedKey(ds.read, seq+off) }
		for _, c := range []struct {
			name, what string
			op         op
		}{
			{"db_uncached_list", "SQL: the uncached lists, wrapped, app role", dbListOp(b.appDB, keys)},
			{"db_uncached_list_bare", "SQL: the same statements alone, superuser", dbListBareOp(b.db, keys)},
			{"db_uncached_list_norls", "SQL: the same wrapped, superuser (no policy)", dbListOp(b.db, keys)},
		} {
			if have(c.name) {
				continue
			}
			r, err := b.ceiling(ctx, c.name, c.what, o.conc, o.duration, fixedOp(c.op))
			if err != nil {
				return err
			}
			if r.res.errors > 0 {
				return fmt.Errorf("ceiling %s failed: %v", c.name, r.res.errSample)
			}
		}
	case scCreateTask:
		if have("db_insert") {
			return nil
		}
		_, err := b.ceiling(ctx, "db_insert", "SQL: INSERT ... RETURNING id", o.conc, o.duration, fixedOp(dbInsertOp(b.appDB, ds.writes)))
		return err
	case scTransition:
		if have("db_transition") {
			return nil
		}
		r, err := b.ceiling(ctx, "db_transition", "SQL: BEGIN; SELECT FOR UPDATE; UPDATE; COMMIT", o.conc, o.duration, func() (op, error) {
			pool, err := b.transitionPool(ctx, "ceiling")
			if err != nil {
				return nil, err
			}
			return dbTransitionOp(b.appDB, ds.writes, pool), nil
		})
		if err != nil {
			return err
		}
		if r.res.exhausted {
			r.note = "ran out of CREATED tasks before the end"
		}
	case scLogin:
		if have("bcrypt") {
			return nil
		}
		fn, err := bcryptOp(o.bcryptCost)
		if err != nil {
			return err
		}
		n := runtime.GOMAXPROCS(0)
		_, err = b.ceilingWith(ctx, "bcrypt", fmt.Sprintf("bcrypt verify, cost %d, %d goroutines", o.bcryptCost, n), n, o.loginDur, 0, fixedOp(fn))
		return err
	}
	return ctx.Err()
}

// ceilingServer starts, once, the in-process Fiber server that replays
// page 1 of the first organization's list and one of its tasks, captured
// from the service exactly as it answers them.
func (b *bench) ceilingServer(ctx context.Context) (string, error) {
	if b.ceilBase != "" {
		return b.ceilBase, nil
	}
	ds := b.ds
	list, err := capture(ctx, b.srv.base+"/tasks?limit=10", ds.read[0].token)
	if err != nil {
		return "", fmt.Errorf("capture list: %w", err)
	}
	get, err := capture(ctx, b.srv.base+"/tasks/"+strconv.FormatInt(ds.read[0].hi, 10), ds.read[0].token)
	if err != nil {
		return "", fmt.Errorf("capture task: %w", err)
	}
	b.note("HTTP ceilings replay the service's own answers: GET /tasks?limit=10 (%d body bytes, %d headers) and GET /tasks/{id} (%d bytes)",
		len(list.body), len(list.headers), len(get.body))
	base, stop, err := startCeilingServer(map[string]captured{"/tasks": list, "/tasks/:id": get})
	if err != nil {
		return "", err
	}
	b.ceilBase, b.ceilStop = base, stop
	return base, nil
}

func fixedOp(fn op) func() (op, error) { return func() (op, error) { return fn, nil } }

func (b *bench) ceilingHTTP(ctx context.Context, name, what string, gen httpGen) error {
	client := newClient(b.o.conc)
	defer client.CloseIdleConnections()
	r, err := b.ceiling(ctx, name, what, b.o.conc, b.o.duration, fixedOp(httpOp(client, gen)))
	if err != nil {
		return err
	}
	if r.res.errors > 0 {
		return fmt.Errorf("ceiling %s failed: %v", name, r.res.errSample)
	}
	return nil
}

func (b *bench) ceiling(ctx context.Context, name, what string, conc int, dur time.Duration, mk func() (op, error)) (*row, error) {
	return b.ceilingWith(ctx, name, what, conc, dur, b.o.warmup, mk)
}

// ceilingWith measures a ceiling; mk makes the op of each attempt.
func (b *bench) ceilingWith(ctx context.Context, name, what string, conc int, dur, warmup time.Duration, mk func() (op, error)) (*row, error) {
	b.logf("ceiling %s: %d workers for %s", name, conc, dur)
	res, err := b.quietest(ctx, name, func() (*loadResult, error) {
		fn, err := mk()
		if err != nil {
			return nil, err
		}
		res := run(ctx, runOpts{conc: conc, warmup: warmup, dur: dur, drain: 30 * time.Second, pgDB: b.dbName, quietWait: b.o.quietWait}, fn)
		return res, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	r := &row{scenario: name, backend: b.backend, conc: conc, res: res, what: what}
	b.ceilings[name] = r
	b.ceilingLog = append(b.ceilingLog, r)
	b.logf("  %s", r.summary())
	return r, nil
}
