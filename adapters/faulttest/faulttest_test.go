package faulttest_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
)

func TestPostgres_StopsAndStartsAgain(t *testing.T) {
	t.Parallel()
	pg := faulttest.StartPostgres(t)
	if !pg.Answers() {
		t.Fatal("a started Postgres does not answer")
	}
	pg.Stop()
	if pg.Answers() {
		t.Fatal("a stopped Postgres still answers")
	}
	pg.Start()
	if !pg.Answers() {
		t.Fatal("a restarted Postgres does not answer")
	}
	pg.Kill()
	if pg.Answers() {
		t.Fatal("a killed Postgres still answers")
	}
}

func TestRedis_FreezesThawsAndDies(t *testing.T) {
	t.Parallel()
	r := faulttest.StartRedis(t)
	r.Freeze()
	if r.Answers() {
		t.Fatal("a frozen Redis answers")
	}
	r.Thaw()
	if !r.Answers() {
		t.Fatal("a thawed Redis does not answer")
	}
	r.Kill()
	if r.Answers() {
		t.Fatal("a killed Redis answers")
	}
	r.Start()
	if !r.Answers() {
		t.Fatal("a restarted Redis does not answer")
	}
}

func TestStartRedisCluster(t *testing.T) {
	c := faulttest.StartRedisCluster(t, 6)
	opt, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if len(opt.Addrs) != 6 {
		t.Fatalf("URL %s names %d nodes, want 6", c.URL(), len(opt.Addrs))
	}
	// The killed master refuses connections rather than redirecting: the
	// client learns of its replica by reading the slots again.
	opt.ClusterStateReloadInterval = 200 * time.Millisecond
	client := redis.NewClusterClient(opt)
	defer client.Close()
	ctx := t.Context()
	// Keys in different slots, on different masters, all answer.
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := client.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	m := c.MasterOf("a")
	m.Kill()
	// Its replica takes over: the key is served again, by another node.
	faulttest.WaitFor(t, "a replica to take the killed master's slots", 30*time.Second, func() bool {
		return client.Set(ctx, "a", "w", 0).Err() == nil
	})
	c.WaitOK()
	if got := c.MasterOf("a"); got == m {
		t.Fatal("the killed master still serves the key")
	}
}

// Transaction pooling, as StartPgBouncer promises it: with one server
// connection, two clients run on the same backend one transaction after
// the other, and what one sets for its session the other inherits (the
// hazard the service avoids by setting nothing but transaction-local
// settings).
func TestPgBouncer_SharesOneServerConnectionBetweenClients(t *testing.T) {
	t.Parallel()
	server := pgtest.Require(t)
	b := faulttest.StartPgBouncerPool(t, server, 1)
	open := func() *sql.DB {
		db, err := sql.Open("postgres", b.URL(server))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	first, second := open(), open()
	var pid1, pid2 int
	if _, err := first.Exec(`SELECT set_config('faulttest.marker', 'first', false)`); err != nil {
		t.Fatal(err)
	}
	if err := first.QueryRow(`SELECT pg_backend_pid()`).Scan(&pid1); err != nil {
		t.Fatal(err)
	}
	var marker string
	if err := second.QueryRow(`SELECT pg_backend_pid(), current_setting('faulttest.marker', true)`).Scan(&pid2, &marker); err != nil {
		t.Fatal(err)
	}
	if pid1 != pid2 || marker != "first" {
		t.Fatalf("second client: backend %d, marker %q; want the first's backend %d and its session setting", pid2, marker, pid1)
	}
}
