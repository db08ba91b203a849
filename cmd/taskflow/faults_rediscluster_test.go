package main_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
)

// TestFaults_RedisCluster_MasterKilled: two replicas of the binary with
// REDIS_CLUSTER=true, under a bounded load of reads and writes on A, and
// the master that holds the organization's slot killed. With a replica
// of that master, the replica is promoted (and may lack the master's
// last writes); without one, the cluster stops answering until the
// master is started again, empty. Either way no request fails (the
// breaker fails open to the database), and once every node says the
// cluster is ok, a task created during the outage is listed, and a token
// logged out during it refused, by both replicas within 2 s: B got no
// request during the outage, so it must learn of it from the cluster
// (a failover, a moved epoch), not from a failure of its own.
func TestFaults_RedisCluster_MasterKilled(t *testing.T) {
	for _, c := range []struct {
		name  string
		nodes int
	}{
		{"replica_promoted", 6},
		{"cluster_down_until_restarted_empty", 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testRedisClusterMasterKilled(t, c.nodes)
		})
	}
}

func testRedisClusterMasterKilled(t *testing.T, nodes int) {
	cl := faulttest.StartRedisCluster(t, nodes)
	bin := binary(t)
	dbURL := pgtest.NewDatabase(t)
	a := redisStartReplica(t, bin, "A", dbURL, cl.URL(), "REDIS_CLUSTER=true")
	b := redisStartReplica(t, bin, "B", dbURL, cl.URL(), "REDIS_CLUSTER=true")
	first := walkThrough(t, a.base)
	firstPath := fmt.Sprintf("/tasks/%v", first["id"])
	token := login(t, a.base)
	doomed := login(t, a.base) // logged out during the outage
	st, raw, err := redisDo("GET", a.base+"/me", token, nil)
	var me struct {
		OrganizationID int64 `json:"organization_id"`
	}
	if err != nil || st != 200 || json.Unmarshal(raw, &me) != nil || me.OrganizationID == 0 {
		t.Fatalf("GET /me: %d %v %s", st, err, raw)
	}

	// Both replicas cache the list and both session checks.
	for _, r := range []*redisReplica{a, b} {
		for _, tok := range []string{token, doomed} {
			for range 2 {
				redisLists(t, r, tok, 0)
			}
		}
	}

	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var st int
				var raw []byte
				var err error
				switch i % 3 {
				case 0:
					// A write that invalidates, and leaves the list one
					// page long.
					st, raw, err = redisDo("PATCH", a.base+firstPath, token, map[string]any{"title": fmt.Sprintf("load %d.%d", w, i)})
				case 1:
					st, raw, err = redisDo("GET", a.base+"/tasks?limit=5", token, nil)
				default:
					st, raw, err = redisDo("GET", a.base+"/me", token, nil)
				}
				sent.Add(1)
				if err != nil || st >= 500 {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %v %s", st, err, raw))
				}
			}
		})
	}
	phase := func(what string, n int64) {
		t.Helper()
		target := sent.Load() + n
		faulttest.WaitFor(t, fmt.Sprintf("%d requests %s", n, what), 60*time.Second, func() bool { return sent.Load() >= target })
	}
	phase("before the kill", 100)

	// Every key of the organization carries its hash tag.
	master := cl.MasterOf("{" + strconv.FormatInt(me.OrganizationID, 10) + "}")
	master.Kill()
	killedAt := time.Now()
	// Past the node timeout: the cluster has marked the master failed.
	phase("with the master dead", 200)
	faulttest.WaitFor(t, "the cluster to mark the master failed", 10*time.Second, func() bool {
		return time.Since(killedAt) > 2*faulttest.ClusterNodeTimeout
	})
	st, raw, err = redisDo("POST", a.base+"/tasks", token, map[string]any{"title": "written during the outage"})
	var task struct {
		ID int64 `json:"id"`
	}
	if err != nil || st != 201 || json.Unmarshal(raw, &task) != nil {
		t.Fatalf("POST /tasks during the outage: %d %v %s", st, err, raw)
	}
	if st, raw, err := redisDo("POST", a.base+"/logout", doomed, nil); err != nil || st != 204 {
		t.Fatalf("POST /logout during the outage: %d %v %s", st, err, raw)
	}
	if nodes == 3 {
		// No replica: the slots have no master until it is back (empty,
		// with its node id from nodes.conf).
		master.Start()
	}
	cl.WaitOK()
	okAt := time.Now()
	var visible, refused [2]time.Duration
	for i, r := range []*redisReplica{a, b} {
		visible[i] = redisWaitFor(t, "the task created during the outage listed on "+r.name, okAt, 2*time.Second,
			func() bool { return redisLists(t, r, token, task.ID) })
		refused[i] = redisWaitFor(t, "the token logged out during the outage refused on "+r.name, okAt, 2*time.Second,
			func() bool {
				st, _, err := redisDo("GET", r.base+"/tasks", doomed, nil)
				return err == nil && st == 401
			})
	}
	phase("after the cluster is ok again", 100)
	close(stop)
	wg.Wait()
	outage := okAt.Sub(killedAt)
	t.Logf("master killed under load: %d requests, %d failed; the cluster was ok again %v after the kill; the write is listed on A after %v and on B after %v; the logged out token refused on A after %v and on B after %v",
		sent.Load(), failed.Load(), outage.Round(time.Millisecond),
		visible[0].Round(time.Millisecond), visible[1].Round(time.Millisecond), refused[0].Round(time.Millisecond), refused[1].Round(time.Millisecond))
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed; the first: %v", n, firstFailure.Load())
	}
	// And it stays so once both replicas use the cache again.
	faulttest.WaitFor(t, "replica A to use the cache again", 10*time.Second, func() bool {
		return redisOutContains(a, `"msg":"redis answers again: cache back in use"`)
	})
	for _, r := range []*redisReplica{a, b} {
		for range 2 {
			if !redisLists(t, r, token, task.ID) {
				t.Fatalf("%s no longer lists the task once the cache is back", r.name)
			}
			if st, raw, _ := redisDo("GET", r.base+"/tasks", doomed, nil); st != 401 {
				t.Fatalf("%s accepts the logged out token again: %d %s", r.name, st, raw)
			}
		}
	}
}

func redisOutContains(r *redisReplica, s string) bool {
	return strings.Contains(r.out.String(), s)
}
