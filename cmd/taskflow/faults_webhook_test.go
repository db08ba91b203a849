package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// hookInbox is the receiver: it records the webhook-id of every request
// and holds the first one open until released (the attempt in flight
// when its replica dies); it answers every other with 204.
type hookInbox struct {
	mu      sync.Mutex
	ids     []string
	release chan struct{}
}

func (h *hookInbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h.mu.Lock()
	h.ids = append(h.ids, r.Header.Get("webhook-id"))
	first := len(h.ids) == 1
	h.mu.Unlock()
	if first {
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookInbox) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ids...)
}

// TestFaults_KillDuringADelivery_AnotherReplicaDeliversIt: at least once
// under a crash. Replica A acknowledges a write (201) and starts
// delivering its event; while the receiver holds that attempt open, A
// is killed with SIGKILL. Replica B, on the same Postgres (as the
// application role, bound by row-level security), takes the hook over
// when A's claim runs out and delivers the event, with the same
// webhook-id.
func TestFaults_KillDuringADelivery_AnotherReplicaDeliversIt(t *testing.T) {
	bin := binary(t)
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	inbox := &hookInbox{release: make(chan struct{})}
	rcv := httptest.NewServer(inbox)
	defer rcv.Close()
	defer close(inbox.release)     // before Close, which waits for the handler
	key := strings.Repeat("s", 40) // both replicas open the hook's sealed secret
	env := func(port string) []string {
		return dbEnv(port, "DATABASE_URL="+appURL, "MIGRATION_DATABASE_URL="+ownerURL, "SECRET_KEY="+key,
			"WEBHOOK_ALLOW_PRIVATE=true", "WEBHOOK_TIMEOUT=2s", "WEBHOOK_RETRY_SCHEDULE=1s")
	}
	portA := freePort(t)
	baseA := "http://127.0.0.1:" + portA
	a := start(t, bin, env(portA))
	waitHealthy(t, a, baseA)
	walkThrough(t, baseA)
	token := login(t, baseA)
	st, hook := call(t, "POST", baseA+"/webhooks", token, map[string]any{"url": rcv.URL + "/h", "events": []string{"task.*"}})
	if st != 201 {
		t.Fatalf("register: %d %v", st, hook)
	}
	st, task := call(t, "POST", baseA+"/tasks", token, map[string]any{"title": "delivered whatever happens"})
	if st != 201 {
		t.Fatalf("create task: %d %v", st, task)
	}
	org := int64(task["organization_id"].(float64))

	// The write's event is committed with the write (the outbox): the one
	// the receiver must get, whatever happens to A. It is numbered a few
	// milliseconds after the commit, by A (docs/EVENTS.md): listed once
	// it is.
	db, err := postgres.Open(t.Context(), appURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stores := sqlstore.New(db, db, postgres.Dialect{}).Stores()
	taskID := int64(task["id"].(float64))
	var evs []domain.Event
	faulttest.WaitFor(t, "the task's task.created event, numbered", 10*time.Second, func() bool {
		evs, err = stores.Events.List(t.Context(), domain.OrgID(org), ports.EventFilter{
			Types: []string{"task.created"}, SubjectType: domain.SubjectTask, SubjectID: &taskID, Limit: 10})
		return err != nil || len(evs) > 0
	})
	if err != nil || len(evs) != 1 {
		t.Fatalf("the task's task.created event: %v (err %v)", evs, err)
	}
	want := fmt.Sprintf("evt_%d", evs[0].ID)

	faulttest.WaitFor(t, "replica A's attempt at the receiver", 10*time.Second, func() bool { return len(inbox.got()) == 1 })
	if err := a.cmd.Process.Kill(); err != nil { // SIGKILL, mid-attempt
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	if got := inbox.got(); len(got) != 1 || got[0] != want {
		t.Fatalf("before the kill the receiver got %v, want [%s]", got, want)
	}

	portB := freePort(t)
	baseB := "http://127.0.0.1:" + portB
	b := start(t, bin, env(portB))
	waitHealthy(t, b, baseB)
	faulttest.WaitFor(t, "replica B's delivery", 30*time.Second, func() bool { return len(inbox.got()) >= 2 })
	if got := inbox.got(); len(got) != 2 || got[1] != want {
		t.Fatalf("the receiver got %v, want %s twice (A's cut-off attempt, then B's)", got, want)
	}
	// B settled it: its deliveries log says 204, and nothing more comes.
	token = login(t, baseB)
	hookID := fmt.Sprint(hook["id"])
	faulttest.WaitFor(t, "the delivery in the log", 10*time.Second, func() bool {
		req, _ := http.NewRequest("GET", baseB+"/webhooks/"+hookID+"/deliveries", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ds []map[string]any
		if json.NewDecoder(resp.Body).Decode(&ds) != nil || len(ds) == 0 {
			return false
		}
		return ds[0]["status_code"] == float64(204) && ds[0]["event_id"] == float64(evs[0].ID)
	})
	stop(t, b)
	if got := inbox.got(); len(got) != 2 {
		t.Fatalf("the receiver got %v after B settled", got)
	}
}
