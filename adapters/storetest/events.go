package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// newEvent is an event of org about task subject id, with a small payload.
func newEvent(org domain.OrgID, typ domain.EventType, subjectType string, subjectID int64) *domain.Event {
	return &domain.Event{
		OrgID: org, Type: typ, OccurredAt: t0, RequestID: unique("req"),
		Subject: domain.EventSubject{Type: subjectType, ID: subjectID},
		Data:    json.RawMessage(fmt.Sprintf(`{"n":%d}`, seq.Add(1))),
	}
}

// appendEvent appends e on its own and numbers it (where the store
// queues it, Append leaves its id 0): e.ID is then its id.
func (f *fixture) appendEvent(e *domain.Event) *domain.Event {
	f.t.Helper()
	if err := f.s.Events.Append(f.ctx, e); err != nil {
		f.t.Fatalf("append %s: %v", e.Type, err)
	}
	last := f.number(e.OrgID)
	if e.ID == 0 {
		e.ID = last
	}
	wantEqual(f.t, "the appended event is the last", e.ID, last)
	return e
}

// number numbers org's queued events and returns its last id.
func (f *fixture) number(org domain.OrgID) int64 {
	f.t.Helper()
	last, err := f.s.Events.Number(f.ctx, org)
	if err != nil {
		f.t.Fatalf("number the events of %d: %v", org, err)
	}
	return last
}

func (f *fixture) listEvents(org domain.OrgID, flt ports.EventFilter) []domain.Event {
	f.t.Helper()
	if flt.Limit == 0 {
		flt.Limit = 100
	}
	got, err := f.s.Events.List(f.ctx, org, flt)
	if err != nil {
		f.t.Fatalf("list events: %v", err)
	}
	return got
}

func eventIDs(events []domain.Event) []int64 {
	ids := make([]int64, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

var eventTests = []test{
	{"append_numbers_each_organizations_events_from_one", func(t *testing.T, f *fixture) {
		a, b := f.org(), f.org()
		var got []int64
		for _, org := range []domain.OrgID{a.ID, b.ID, a.ID, a.ID, b.ID} {
			got = append(got, f.appendEvent(newEvent(org, domain.EventTaskCreated, domain.SubjectTask, 1)).ID)
		}
		wantEqual(t, "ids (a, b, a, a, b)", got, []int64{1, 1, 2, 3, 2})
	}},
	{"an_event_reads_back_as_appended", func(t *testing.T, f *fixture) {
		o, u := f.orgWithAdmin()
		key := domain.APIKeyID(42)
		e := newEvent(o.ID, domain.EventTaskStatusChanged, domain.SubjectTask, 7)
		e.Actor = domain.EventActor{UserID: &u.ID, APIKeyID: &key}
		// Key order and spacing are kept as written.
		e.Data = json.RawMessage(`{"task":{"id":7,"title":"é \u00e9"},"changes":{"status":["CREATED","IN_PROGRESS"]}}`)
		f.appendEvent(e)
		wantEqual(t, "occurred_at kept in UTC microseconds", e.OccurredAt, t0.UTC().Truncate(time.Microsecond))
		got := f.listEvents(o.ID, ports.EventFilter{})
		wantEqual(t, "events", got, []domain.Event{*e})

		anon := f.appendEvent(newEvent(o.ID, domain.EventMemberJoined, domain.SubjectMember, int64(u.ID)))
		anon.RequestID = ""
		got = f.listEvents(o.ID, ports.EventFilter{After: e.ID})
		if len(got) != 1 || got[0].Actor.UserID != nil || got[0].Actor.APIKeyID != nil {
			t.Fatalf("event without an actor read back as %+v", got)
		}
	}},
	{"append_to_an_absent_organization_is_org_not_found", func(t *testing.T, f *fixture) {
		err := f.s.Events.Append(f.ctx, newEvent(absent, domain.EventTaskCreated, domain.SubjectTask, 1))
		wantErr(t, "append", err, domain.ErrOrgNotFound)
	}},
	{"paging_with_after_returns_every_event_exactly_once_oldest_first", func(t *testing.T, f *fixture) {
		o := f.org()
		var want []int64
		for i := range 23 {
			want = append(want, f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, int64(i))).ID)
		}
		var got []int64
		after := int64(0)
		for {
			page := f.listEvents(o.ID, ports.EventFilter{After: after, Limit: 5})
			if len(page) == 0 {
				break
			}
			if len(page) > 5 {
				t.Fatalf("page of %d events, limit 5", len(page))
			}
			got = append(got, eventIDs(page)...)
			after = page[len(page)-1].ID
		}
		wantEqual(t, "ids paged", got, want)
	}},
	{"list_filters_by_exact_type_prefix_and_subject", func(t *testing.T, f *fixture) {
		o := f.org()
		t7 := f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, 7))
		m7 := f.appendEvent(newEvent(o.ID, domain.EventMemberJoined, domain.SubjectMember, 7))
		t8 := f.appendEvent(newEvent(o.ID, domain.EventTaskStatusChanged, domain.SubjectTask, 8))
		t7u := f.appendEvent(newEvent(o.ID, domain.EventTaskUpdated, domain.SubjectTask, 7))
		inv := f.appendEvent(newEvent(o.ID, domain.EventInviteCreated, domain.SubjectInvite, 3))
		seven := int64(7)
		for _, tc := range []struct {
			name string
			flt  ports.EventFilter
			want []*domain.Event
		}{
			{"every type", ports.EventFilter{}, []*domain.Event{t7, m7, t8, t7u, inv}},
			{"star", ports.EventFilter{Types: []string{"*"}}, []*domain.Event{t7, m7, t8, t7u, inv}},
			{"exact", ports.EventFilter{Types: []string{"task.updated"}}, []*domain.Event{t7u}},
			// An underscore is no wildcard, and case matters.
			{"exact with underscore", ports.EventFilter{Types: []string{"task.status_changed"}}, []*domain.Event{t8}},
			{"exact, other case", ports.EventFilter{Types: []string{"TASK.UPDATED"}}, nil},
			{"prefix", ports.EventFilter{Types: []string{"task.*"}}, []*domain.Event{t7, t8, t7u}},
			{"prefix or exact", ports.EventFilter{Types: []string{"member.*", "invite.created"}}, []*domain.Event{m7, inv}},
			{"subject", ports.EventFilter{SubjectType: domain.SubjectTask, SubjectID: &seven}, []*domain.Event{t7, t7u}},
			{"subject id of any kind", ports.EventFilter{SubjectID: &seven}, []*domain.Event{t7, m7, t7u}},
			{"subject and type", ports.EventFilter{SubjectType: domain.SubjectTask, SubjectID: &seven, Types: []string{"task.created"}}, []*domain.Event{t7}},
			{"subject after", ports.EventFilter{SubjectType: domain.SubjectTask, SubjectID: &seven, After: t7.ID}, []*domain.Event{t7u}},
			{"limit", ports.EventFilter{Types: []string{"task.*"}, Limit: 2}, []*domain.Event{t7, t8}},
		} {
			var want []int64
			for _, e := range tc.want {
				want = append(want, e.ID)
			}
			if got := eventIDs(f.listEvents(o.ID, tc.flt)); len(got) != 0 || len(want) != 0 {
				wantEqual(t, tc.name, got, want)
			}
		}
	}},
	{"another_organizations_events_are_never_listed", func(t *testing.T, f *fixture) {
		a, b := f.org(), f.org()
		e := f.appendEvent(newEvent(a.ID, domain.EventTaskCreated, domain.SubjectTask, 1))
		subject := e.Subject.ID
		if got := f.listEvents(b.ID, ports.EventFilter{}); len(got) != 0 {
			t.Fatalf("organization b lists %d events of a", len(got))
		}
		if got := f.listEvents(b.ID, ports.EventFilter{SubjectType: domain.SubjectTask, SubjectID: &subject}); len(got) != 0 {
			t.Fatalf("organization b lists %d events of a's task", len(got))
		}
		last, err := f.s.Events.Last(f.ctx, b.ID)
		wantNoErr(t, "last of b", err)
		wantEqual(t, "last of b", last, 0)
	}},
	{"a_rolled_back_append_leaves_no_event_and_no_hole", func(t *testing.T, f *fixture) {
		o := f.org()
		first := f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, 1))
		errStop := errors.New("stop")
		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			e := newEvent(o.ID, domain.EventTaskUpdated, domain.SubjectTask, 1)
			if err := s.Events.Append(f.ctx, e); err != nil {
				return err
			}
			return errStop
		})
		wantErr(t, "in tx", err, errStop)
		wantEqual(t, "numbered after the rollback", f.number(o.ID), first.ID)
		wantEqual(t, "events after the rollback", eventIDs(f.listEvents(o.ID, ports.EventFilter{})), []int64{first.ID})
		last, err := f.s.Events.Last(f.ctx, o.ID)
		wantNoErr(t, "last", err)
		wantEqual(t, "last after the rollback", last, first.ID)
		next := f.appendEvent(newEvent(o.ID, domain.EventTaskDeleted, domain.SubjectTask, 1))
		wantEqual(t, "next id", next.ID, first.ID+1)
	}},
	{"a_committed_transaction_keeps_its_event_with_its_change", func(t *testing.T, f *fixture) {
		o, u := f.orgWithAdmin()
		var tk *domain.Task
		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			tk = newTask(t, o.ID, u.ID, nil)
			if err := s.Tasks.Create(f.ctx, tk); err != nil {
				return err
			}
			return s.Events.Append(f.ctx, newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, int64(tk.ID)))
		})
		wantNoErr(t, "in tx", err)
		f.getTask(o.ID, tk.ID)
		f.number(o.ID)
		id := int64(tk.ID)
		got := f.listEvents(o.ID, ports.EventFilter{SubjectType: domain.SubjectTask, SubjectID: &id})
		if len(got) != 1 || got[0].Type != domain.EventTaskCreated {
			t.Fatalf("events of the new task: %+v", got)
		}
	}},
	{"last_is_the_newest_id", func(t *testing.T, f *fixture) {
		o := f.org()
		last, err := f.s.Events.Last(f.ctx, o.ID)
		wantNoErr(t, "last", err)
		wantEqual(t, "last before any event", last, 0)
		f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, 1))
		f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, 2))
		last, err = f.s.Events.Last(f.ctx, o.ID)
		wantNoErr(t, "last", err)
		wantEqual(t, "last", last, 2)
		_, err = f.s.Events.Last(f.ctx, absent)
		wantErr(t, "last of an absent organization", err, domain.ErrOrgNotFound)
	}},
	{"purge_deletes_in_batches_only_events_older_than_the_cutoff_of_every_organization", func(t *testing.T, f *fixture) {
		a, b := f.org(), f.org()
		for i := range 5 {
			for _, org := range []domain.OrgID{a.ID, b.ID} {
				e := newEvent(org, domain.EventTaskCreated, domain.SubjectTask, int64(i))
				e.OccurredAt = ancient.Add(time.Duration(i) * time.Minute)
				f.appendEvent(e)
			}
		}
		keptA := f.appendEvent(newEvent(a.ID, domain.EventTaskUpdated, domain.SubjectTask, 1))
		// The cut-off is exclusive: events at i = 3 and 4 stay.
		cutoff := ancient.Add(3 * time.Minute)
		n, err := f.s.Events.Purge(f.ctx, cutoff, 4)
		wantNoErr(t, "purge", err)
		wantEqual(t, "first batch", n, 4)
		n, err = f.s.Events.Purge(f.ctx, cutoff, 4)
		wantNoErr(t, "purge", err)
		wantEqual(t, "second batch", n, 2)
		n, err = f.s.Events.Purge(f.ctx, cutoff, 4)
		wantNoErr(t, "purge", err)
		wantEqual(t, "nothing left to purge", n, 0)
		wantEqual(t, "a keeps", eventIDs(f.listEvents(a.ID, ports.EventFilter{})), []int64{4, 5, keptA.ID})
		wantEqual(t, "b keeps", eventIDs(f.listEvents(b.ID, ports.EventFilter{})), []int64{4, 5})
		// The numbering goes on where it was.
		last, err := f.s.Events.Last(f.ctx, b.ID)
		wantNoErr(t, "last of b", err)
		wantEqual(t, "last of b after the purge", last, 5)
		wantEqual(t, "next of a", f.appendEvent(newEvent(a.ID, domain.EventTaskCreated, domain.SubjectTask, 1)).ID, keptA.ID+1)
	}},
	{"deletes_return_what_they_deleted_for_the_events_to_carry", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		mine1, other, mine2 := f.task(o.ID, admin.ID, &u.ID), f.task(o.ID, admin.ID, nil), f.task(o.ID, admin.ID, &u.ID)
		removed, unassigned, err := f.s.Users.Delete(f.ctx, o.ID, u.ID)
		wantNoErr(t, "delete member", err)
		wantEqual(t, "removed member", removed, u)
		if len(unassigned) != 2 || unassigned[0].ID != mine1.ID || unassigned[1].ID != mine2.ID {
			t.Fatalf("unassigned %+v, want tasks %d and %d", unassigned, mine1.ID, mine2.ID)
		}
		for _, tk := range unassigned {
			wantEqual(t, "unassigned task as stored", &tk, f.getTask(o.ID, tk.ID))
			if tk.AssigneeID != nil || tk.Version != 2 {
				t.Errorf("unassigned task %d: assignee %v, version %d", tk.ID, tk.AssigneeID, tk.Version)
			}
		}

		deleted, err := f.s.Tasks.Delete(f.ctx, o.ID, other.ID, 0)
		wantNoErr(t, "delete task", err)
		wantEqual(t, "deleted task", deleted, other)

		inv := &domain.Invite{OrgID: o.ID, CodeHash: unique("hash"), Role: domain.RoleUser, ExpiresAt: t0, CreatedAt: t0, CreatedBy: &admin.ID}
		wantNoErr(t, "create invite", f.s.Invites.Create(f.ctx, inv))
		gone, err := f.s.Invites.Delete(f.ctx, o.ID, inv.ID)
		wantNoErr(t, "delete invite", err)
		wantEqual(t, "deleted invite", gone, inv)
	}},
	{"ids_follow_commit_order_under_concurrent_writers", func(t *testing.T, f *fixture) {
		// Writers append in transactions that do more work after the
		// append, and some roll back; two numberers (two replicas') number
		// the queue, and a reader pages with after, all the while. Were ids
		// handed out in the order asked rather than committed, the reader
		// would move past an id that commits later and never see it.
		o, u := f.orgWithAdmin()
		tk := f.task(o.ID, u.ID, nil)
		const writers, each = 8, 12
		errStop := errors.New("roll back")
		var (
			wg        sync.WaitGroup
			committed sync.Map // request id -> true, or false for rolled back
			done      = make(chan struct{})
		)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					e := newEvent(o.ID, domain.EventTaskUpdated, domain.SubjectTask, int64(tk.ID))
					err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
						if err := s.Events.Append(f.ctx, e); err != nil {
							return err
						}
						if _, err := s.Tasks.Get(f.ctx, o.ID, tk.ID); err != nil {
							return err
						}
						if (w+i)%5 == 0 {
							return errStop
						}
						return nil
					})
					switch {
					case errors.Is(err, errStop):
						committed.Store(e.RequestID, false)
					case err != nil:
						t.Errorf("writer %d: %v", w, err)
						return
					default:
						committed.Store(e.RequestID, true)
					}
				}
			})
		}
		go func() { wg.Wait(); close(done) }()
		var numberers sync.WaitGroup
		for range 2 {
			numberers.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := f.s.Events.Number(f.ctx, o.ID); err != nil {
						t.Errorf("number: %v", err)
						return
					}
				}
			})
		}

		var (
			seen     []int64
			seenReqs = map[string]int{}
			after    = int64(0)
		)
		page := func() int {
			got, err := f.s.Events.List(f.ctx, o.ID, ports.EventFilter{After: after, Limit: 7})
			if err != nil {
				t.Fatalf("reader: %v", err)
			}
			for _, e := range got {
				if e.ID <= after {
					t.Fatalf("reader met %d after %d", e.ID, after)
				}
				seen = append(seen, e.ID)
				seenReqs[e.RequestID]++
				after = e.ID
			}
			return len(got)
		}
	read:
		for {
			select {
			case <-done:
				break read
			default:
				page()
			}
		}
		numberers.Wait()
		f.number(o.ID)
		for page() > 0 {
		}
		var missed, ghosts []string
		n := 0
		committed.Range(func(req, ok any) bool {
			switch {
			case ok.(bool):
				n++
				if seenReqs[req.(string)] != 1 {
					missed = append(missed, fmt.Sprintf("%s seen %d times", req, seenReqs[req.(string)]))
				}
			case seenReqs[req.(string)] != 0:
				ghosts = append(ghosts, req.(string))
			}
			return true
		})
		if len(missed) > 0 {
			t.Fatalf("committed events not seen exactly once (%d): %v", len(missed), missed)
		}
		if len(ghosts) > 0 {
			t.Fatalf("rolled-back events were listed: %v", ghosts)
		}
		wantEqual(t, "events seen", len(seen), n)
		// Numbered without a hole: the rolled-back ones took no number.
		for i, id := range seen {
			if id != int64(i+1) {
				t.Fatalf("reader saw %v: want 1..%d", seen, n)
			}
		}
	}},
	{"numbering_makes_a_committed_event_listed_and_the_sweep_finds_its_organization", func(t *testing.T, f *fixture) {
		a, b := f.org(), f.org()
		e := newEvent(a.ID, domain.EventTaskCreated, domain.SubjectTask, 1)
		wantNoErr(t, "append", f.s.Events.Append(f.ctx, e))
		if e.ID == 0 {
			// Queued: not listed, and the sweep names a, not b.
			wantEqual(t, "listed before numbering", len(f.listEvents(a.ID, ports.EventFilter{})), 0)
			last, err := f.s.Events.Last(f.ctx, a.ID)
			wantNoErr(t, "last", err)
			wantEqual(t, "last before numbering", last, 0)
			queued, err := f.s.Events.Queued(f.ctx, 1_000_000)
			wantNoErr(t, "queued", err)
			if !slices.Contains(queued, a.ID) || slices.Contains(queued, b.ID) {
				t.Fatalf("queued organizations %v: want %d among them, not %d", queued, a.ID, b.ID)
			}
			// Numbering b numbers nothing of a's.
			wantEqual(t, "numbering b", f.number(b.ID), 0)
			wantEqual(t, "still queued", len(f.listEvents(a.ID, ports.EventFilter{})), 0)
		}
		wantEqual(t, "numbering a", f.number(a.ID), 1)
		got := f.listEvents(a.ID, ports.EventFilter{})
		if len(got) != 1 || got[0].ID != 1 || got[0].RequestID != e.RequestID {
			t.Fatalf("a lists %+v, want its one event as 1", got)
		}
		wantEqual(t, "numbering again", f.number(a.ID), 1)
		wantEqual(t, "an absent organization", f.number(absent), 0)
		queued, err := f.s.Events.Queued(f.ctx, 1_000_000)
		wantNoErr(t, "queued", err)
		if slices.Contains(queued, a.ID) {
			t.Fatalf("queued organizations %v still name %d", queued, a.ID)
		}
	}},
}

// ancient is long before any other event of the suite, which runs in
// parallel on one database: only the purge test makes events this old, so
// its purges touch nothing else.
var ancient = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
