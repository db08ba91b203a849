package faulttest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of the test's own: masters, each with
// replicas (or none), without persistence, on free loopback ports.
type RedisCluster struct {
	t testing.TB
	// Nodes are the servers in the order redis-cli --cluster create got
	// them: the masters first, then their replicas.
	Nodes []*Redis
}

// ClusterNodeTimeout is the nodes' cluster-node-timeout: a master that
// does not answer for this long is failed over to its replica (or, with
// none, the cluster stops answering until it is back).
const ClusterNodeTimeout = 1500 * time.Millisecond

// StartRedisCluster starts n redis-servers in cluster mode and joins them
// with redis-cli --cluster create: three masters, and n/3-1 replicas of
// each (n is 3 or 6: with 6, a killed master's replica takes its slots
// over). It waits until every node reports cluster_state:ok.
func StartRedisCluster(t testing.TB, n int) *RedisCluster {
	t.Helper()
	need(t, "redis-server")
	need(t, "redis-cli")
	if n != 3 && n != 6 {
		t.Fatalf("StartRedisCluster: %d nodes; want 3, or 6 (3 masters and 3 replicas)", n)
	}
	c := &RedisCluster{t: t}
	args := []string{"--cluster", "create"}
	for range n {
		r := &Redis{t: t, Port: FreePort(t), dir: t.TempDir(), cluster: true, busPort: FreePort(t)}
		r.Start()
		t.Cleanup(r.Kill)
		c.Nodes = append(c.Nodes, r)
		args = append(args, r.Addr())
	}
	args = append(args, "--cluster-replicas", itoa(n/3-1), "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitOK()
	return c
}

// URL is the cluster's URL in go-redis's cluster form (ParseClusterURL):
// the first node's address, the others as addr parameters.
func (c *RedisCluster) URL() string {
	var b strings.Builder
	b.WriteString("redis://" + c.Nodes[0].Addr())
	for i, r := range c.Nodes[1:] {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString("addr=" + r.Addr())
	}
	return b.String()
}

// Addrs are the nodes' host:port addresses.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		addrs[i] = r.Addr()
	}
	return addrs
}

// WaitOK waits until every running node reports cluster_state:ok and
// every running replica's link to its master is up (a replica that never
// synced would not be promoted).
func (c *RedisCluster) WaitOK() {
	c.t.Helper()
	WaitFor(c.t, "cluster_state:ok on every node", 30*time.Second, c.OK)
}

// OK reports whether every running node reports cluster_state:ok and
// every running replica is in sync with its master.
func (c *RedisCluster) OK() bool {
	for _, r := range c.Nodes {
		if r.cmd == nil {
			continue
		}
		info, err := r.info("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
		repl, err := r.info("INFO", "replication")
		if err != nil || strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return false
		}
	}
	return true
}

// MasterOf returns the running node that serves key's slot as a master,
// by asking the nodes (not a client's cached map).
func (c *RedisCluster) MasterOf(key string) *Redis {
	c.t.Helper()
	for _, r := range c.Nodes {
		if r.cmd == nil {
			continue
		}
		role, err := r.info("INFO", "replication")
		if err != nil || !strings.Contains(role, "role:master") {
			continue
		}
		// A master answers a key of its own; another says MOVED.
		cl := r.client()
		err = cl.Do(context.Background(), "EXISTS", key).Err()
		_ = cl.Close()
		if err == nil {
			return r
		}
	}
	c.t.Fatalf("no running master serves %q", key)
	return nil
}

// client is a single-node client of r, for the helpers' own commands.
func (r *Redis) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
}

// info runs one command on r alone and returns its reply as text.
func (r *Redis) info(args ...any) (string, error) {
	c := r.client()
	defer func() { _ = c.Close() }()
	v, err := c.Do(context.Background(), args...).Result()
	if err != nil {
		return "", err
	}
	return fmt.Sprint(v), nil
}
