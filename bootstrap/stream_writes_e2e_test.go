package bootstrap_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The whole path from a client's write to another client's stream: a
// task created, moved and deleted through the API on one replica reaches
// a stream on the other, each as the event its use case recorded in its
// transaction; a USER's stream gets the task events and not the
// invite and sign-up of a new member.
func TestStream_APIWritesReachStreamsOnTheOtherReplica(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a, b := twoReplicas(t, backend, time.Minute, nil)
			tn := a.newTenant(t)
			if a.lastEvent(t, tn.ID) == 0 {
				// Creating an organization records invite.created once the
				// write use cases record their events (the events branch);
				// until then there is nothing for this test to follow.
				t.Skip("this build's write use cases record no events yet")
			}
			user := a.addMember(t, tn, "USER")
			after := "?after=" + strconv.FormatInt(a.lastEvent(t, tn.ID), 10)
			as := b.openStream(t, "/events/stream"+after, tn.Admin.Token).onlyOf(tn.ID)
			defer as.close()
			us := b.openStream(t, "/events/stream"+after, user.Token).onlyOf(tn.ID)
			defer us.close()

			start := time.Now()
			tk := a.newTask(t, tn.Admin.Token, "streamed")
			created := time.Since(start)
			a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID), tn.Admin.Token, map[string]any{"status": "IN_PROGRESS"})
			a.addMember(t, tn, "USER") // invite.created, member.joined: the admin's only
			a.expect(t, http.StatusNoContent, "", "DELETE", taskPath(tk.ID), tn.Admin.Token, nil)

			want := []string{"task.created", "task.status_changed", "invite.created", "member.joined", "task.deleted"}
			for i, typ := range want {
				f := as.next(t, 2*time.Second)
				if f.Event != typ {
					t.Fatalf("admin frame %d is %s, want %s", i, f.Event, typ)
				}
				if i == 0 {
					t.Logf("%s: 201 after %s, frame on the other replica %s after the request began", backend, created, f.At.Sub(start))
				}
				var e struct {
					Subject struct{ ID int64 } `json:"subject"`
					Data    map[string]any     `json:"data"`
				}
				if err := json.Unmarshal([]byte(f.Data), &e); err != nil {
					t.Fatal(err)
				}
				if typ[:5] == "task." && e.Subject.ID != tk.ID {
					t.Fatalf("%s is about %d, want task %d", typ, e.Subject.ID, tk.ID)
				}
			}
			for i, typ := range []string{"task.created", "task.status_changed", "task.deleted"} {
				if f := us.next(t, 2*time.Second); f.Event != typ {
					t.Fatalf("user frame %d is %s, want %s", i, f.Event, typ)
				}
			}
		})
	}
}
