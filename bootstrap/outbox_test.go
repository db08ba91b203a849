package bootstrap_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/bootstrap"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// The outbox's promise, use case by use case, on both databases: a write
// that commits has its events, and a write that fails (at its append, or
// at the commit after it) leaves neither its change nor any event.

// outboxWorld is the use cases of a running app, built over a transactor
// that can fail on purpose.
type outboxWorld struct {
	stores ports.Stores
	tx     *faultyTx
	tasks  *application.Tasks
	orgs   *application.Organizations
	auth   *application.Auth
}

// faultyTx is the app's transactor, but that it can make the events'
// Append fail, or fail a transaction after its work, as a failed commit
// would.
type faultyTx struct {
	inner ports.Transactor
	mode  string // "", "append" or "commit"
}

var errInjected = errors.New("injected failure")

type failingEvents struct{ ports.EventStore }

func (failingEvents) Append(context.Context, *domain.Event) error { return errInjected }

func (x *faultyTx) InTx(ctx context.Context, fn func(ports.Stores) error) error {
	return x.inner.InTx(ctx, func(s ports.Stores) error {
		if x.mode == "append" {
			s.Events = failingEvents{s.Events}
		}
		if err := fn(s); err != nil {
			return err
		}
		if x.mode == "commit" {
			return errInjected
		}
		return nil
	})
}

func startOutboxWorld(t *testing.T, databaseURL string) *outboxWorld {
	t.Helper()
	cfg := testConfig(t, "memory", databaseURL)
	var (
		tx     ports.Transactor
		stores ports.Stores
		cache  *application.OrgCache
		clock  ports.Clock
		hasher ports.PasswordHasher
		tokens application.Tokens
		codes  ports.CodeGenerator
	)
	app := bootstrap.New(cfg, "outbox-test", fx.Populate(&tx, &stores, &cache, &clock, &hasher, &tokens, &codes))
	if err := app.Err(); err != nil {
		t.Fatalf("build app: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start app: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = app.Stop(ctx)
	})
	w := &outboxWorld{stores: stores, tx: &faultyTx{inner: tx}}
	rep := httpadapter.Representation{}
	w.tasks = application.NewTasks(w.tx, stores.Tasks, cache, clock, rep)
	w.orgs = application.NewOrganizations(w.tx, stores, clock, codes, cache, time.Hour, rep)
	auth, err := application.NewAuth(w.tx, stores, hasher, tokens, clock, codes, cache, time.Hour,
		slog.New(slog.DiscardHandler), rep)
	if err != nil {
		t.Fatal(err)
	}
	w.auth = auth
	return w
}

// outboxOrg is an organization set up for one write: an ADMIN, a USER
// with a task assigned, an unused invite and its code.
type outboxOrg struct {
	org        domain.OrgID
	admin      domain.Actor
	user       *domain.User
	task       *domain.Task
	invite     int64
	inviteCode string
}

func (w *outboxWorld) newOrg(t *testing.T) outboxOrg {
	t.Helper()
	ctx := t.Context()
	created, err := w.orgs.Create(ctx, unique("outbox org"))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := w.auth.SignUp(ctx, application.SignUpInput{Email: uniqueEmail("admin"), Password: password,
		InviteCode: created.Invite.Code})
	if err != nil {
		t.Fatal(err)
	}
	o := outboxOrg{org: created.Org.ID, admin: domain.Actor{OrgID: created.Org.ID, UserID: admin.ID, Role: domain.RoleAdmin}}
	inv, err := w.orgs.CreateInvite(ctx, o.admin, domain.RoleUser, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.user, err = w.auth.SignUp(ctx, application.SignUpInput{Email: uniqueEmail("user"), Password: password,
		InviteCode: inv.Code}); err != nil {
		t.Fatal(err)
	}
	if o.task, err = w.tasks.Create(ctx, o.admin, application.CreateTaskInput{Title: "assigned", AssigneeID: &o.user.ID}); err != nil {
		t.Fatal(err)
	}
	inv, err = w.orgs.CreateInvite(ctx, o.admin, domain.RoleUser, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	o.invite, o.inviteCode = inv.Invite.ID, inv.Code
	return o
}

// state is what an organization holds, to tell whether a write left
// anything behind.
func (w *outboxWorld) state(t *testing.T, org domain.OrgID) string {
	t.Helper()
	ctx := t.Context()
	tasks, err := w.stores.Tasks.List(ctx, org, ports.TaskFilter{Limit: 100, Sort: ports.SortCreatedDesc})
	if err != nil {
		t.Fatal(err)
	}
	users, err := w.stores.Users.List(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	invites, err := w.stores.Invites.ListUsable(ctx, org, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal([]any{tasks.Tasks, users, invites})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventsAfter numbers what org has queued (a replica's publisher does
// after each commit), then lists its events after after.
func (w *outboxWorld) eventsAfter(t *testing.T, org domain.OrgID, after int64) []domain.Event {
	t.Helper()
	w.last(t, org)
	got, err := w.stores.Events.List(t.Context(), org, ports.EventFilter{After: after, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// last numbers what org has queued and returns its last event id.
func (w *outboxWorld) last(t *testing.T, org domain.OrgID) int64 {
	t.Helper()
	n, err := w.stores.Events.Number(t.Context(), org)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type outboxWrite struct {
	name string
	run  func(ctx context.Context, w *outboxWorld, o outboxOrg) error
	want []domain.EventType
}

var outboxWrites = []outboxWrite{
	{"create_task", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		_, err := w.tasks.Create(ctx, o.admin, application.CreateTaskInput{Title: "new"})
		return err
	}, []domain.EventType{domain.EventTaskCreated}},
	{"update_task", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		title := "renamed"
		_, err := w.tasks.Update(ctx, o.admin, o.task.ID, application.UpdateTaskInput{Title: &title})
		return err
	}, []domain.EventType{domain.EventTaskUpdated}},
	{"move_task", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		to := domain.StatusInProgress
		assignee := domain.Actor{OrgID: o.org, UserID: o.user.ID, Role: domain.RoleUser}
		_, err := w.tasks.Update(ctx, assignee, o.task.ID, application.UpdateTaskInput{Status: &to})
		return err
	}, []domain.EventType{domain.EventTaskStatusChanged}},
	{"update_task_status_and_title", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		to, title := domain.StatusInProgress, "renamed"
		_, err := w.tasks.Update(ctx, o.admin, o.task.ID, application.UpdateTaskInput{Status: &to, Title: &title})
		return err
	}, []domain.EventType{domain.EventTaskUpdated}},
	{"delete_task", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		return w.tasks.Delete(ctx, o.admin, o.task.ID, 0)
	}, []domain.EventType{domain.EventTaskDeleted}},
	{"create_invite", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		_, err := w.orgs.CreateInvite(ctx, o.admin, domain.RoleAdmin, "someone@example.test", nil)
		return err
	}, []domain.EventType{domain.EventInviteCreated}},
	{"revoke_invite", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		return w.orgs.RevokeInvite(ctx, o.admin, o.invite)
	}, []domain.EventType{domain.EventInviteRevoked}},
	{"sign_up", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		_, err := w.auth.SignUp(ctx, application.SignUpInput{Email: uniqueEmail("joiner"), Password: password, InviteCode: o.inviteCode})
		return err
	}, []domain.EventType{domain.EventMemberJoined}},
	{"change_role", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		_, err := w.orgs.SetRole(ctx, o.admin, o.user.ID, domain.RoleAdmin)
		return err
	}, []domain.EventType{domain.EventMemberRoleChanged}},
	{"remove_member", func(ctx context.Context, w *outboxWorld, o outboxOrg) error {
		return w.orgs.RemoveMember(ctx, o.admin, o.user.ID)
	}, []domain.EventType{domain.EventMemberRemoved, domain.EventTaskUpdated}},
}

func TestOutbox_EveryWriteCommitsWithItsEventsOrNotAtAll(t *testing.T) {
	t.Parallel()
	for _, db := range []struct {
		name string
		url  func(*testing.T) string
	}{
		{"postgres", newDatabase},
		{"sqlite", func(*testing.T) string { return "" }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			w := startOutboxWorld(t, db.url(t))
			// The modes share the world's transactor: they run one after
			// the other, each write on an organization of its own.
			for _, wr := range outboxWrites {
				t.Run(wr.name, func(t *testing.T) {
					for _, mode := range []string{"append", "commit"} {
						o := w.newOrg(t)
						before, last := w.state(t, o.org), w.last(t, o.org)
						w.tx.mode = mode
						err := wr.run(t.Context(), w, o)
						w.tx.mode = ""
						if !errors.Is(err, errInjected) {
							t.Fatalf("failing at %s: err %v, want the injected failure", mode, err)
						}
						if after := w.state(t, o.org); after != before {
							t.Errorf("failing at %s left the change behind:\nbefore %s\nafter  %s", mode, before, after)
						}
						if n := w.last(t, o.org); n != last {
							t.Errorf("failing at %s: last event %d, was %d", mode, n, last)
						}
						if got := w.eventsAfter(t, o.org, last); len(got) != 0 {
							t.Errorf("failing at %s left events %+v", mode, got)
						}
					}

					o := w.newOrg(t)
					before, last := w.state(t, o.org), w.last(t, o.org)
					ctx := application.WithRequestID(t.Context(), "req-"+wr.name)
					if err := wr.run(ctx, w, o); err != nil {
						t.Fatalf("write: %v", err)
					}
					if w.state(t, o.org) == before {
						t.Fatal("the write changed nothing")
					}
					got := w.eventsAfter(t, o.org, last)
					var types []domain.EventType
					for _, e := range got {
						types = append(types, e.Type)
						if e.RequestID != "req-"+wr.name {
							t.Errorf("%s: request id %q, want %q", e.Type, e.RequestID, "req-"+wr.name)
						}
						checkNoSecret(t, e, o)
					}
					if !slices.Equal(types, wr.want) {
						t.Fatalf("events %v, want %v", types, wr.want)
					}
					for i, e := range got {
						if e.ID != last+int64(i)+1 {
							t.Errorf("event ids %v do not follow %d", eventIDsOf(got), last)
						}
					}
				})
			}
		})
	}
}

func eventIDsOf(events []domain.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// checkNoSecret fails when an event carries what must never leave the
// service: a password or its hash, an invite code or its hash, a token.
func checkNoSecret(t *testing.T, e domain.Event, o outboxOrg) {
	t.Helper()
	data := string(e.Data)
	for _, secret := range []string{password, o.inviteCode, "$2a$", "password", "code_hash", "\"code\"", "token", "secret"} {
		if secret != "" && strings.Contains(data, secret) {
			t.Errorf("event %s carries %q: %s", e.Type, secret, data)
		}
	}
	if !json.Valid(e.Data) {
		t.Errorf("event %s data is not JSON: %s", e.Type, data)
	}
}
