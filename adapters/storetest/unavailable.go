package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Gone is what RunUnavailable needs of a database it may take away: the
// stores and transactor over it (migrated and reachable to begin with),
// and a way to stop it and to start it again.
type Gone struct {
	Stores ports.Stores
	Tx     ports.Transactor
	Pinger ports.Pinger
	// Stop makes the database unreachable, as a stopped server is.
	Stop func()
	// Start makes it reachable again; nil skips the recovery check.
	Start func()
}

// RunUnavailable is the contract of every store call while the database
// cannot be reached: it fails with domain.ErrDatabaseUnavailable (kind
// KindUnavailable, which the HTTP adapter answers 503), never with
// another error, which would be a 500, and never with a domain answer
// such as not found, which would be a lie. The call is bounded by a
// context deadline, so a call that hangs fails the test rather than it.
// With Start, the same stores then serve again once the database is
// back, with no other error on the way (stale pooled connections
// included).
//
// It seeds an organization, a member, a task, an invite and a session
// first, so that every call names rows that exist.
func RunUnavailable(t *testing.T, g Gone) {
	f := &fixture{t: t, ctx: t.Context(), s: g.Stores, tx: g.Tx}
	o, admin := f.orgWithAdmin()
	member := f.user(o.ID, domain.RoleUser)
	tk := f.task(o.ID, admin.ID, nil)
	inv := f.invite(o.ID, "")
	refresh := unique("refresh")
	sess := f.session(member, refresh)
	s := g.Stores

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Orgs.Create", func(ctx context.Context) error {
			org, err := domain.NewOrganization(unique("org"), t0)
			if err != nil {
				t.Fatal(err)
			}
			return s.Orgs.Create(ctx, org)
		}},
		{"Orgs.Get", func(ctx context.Context) error { _, err := s.Orgs.Get(ctx, o.ID); return err }},
		{"Users.Create", func(ctx context.Context) error { return s.Users.Create(ctx, newUser(o.ID, domain.RoleUser)) }},
		{"Users.ByEmail", func(ctx context.Context) error { _, err := s.Users.ByEmail(ctx, admin.Email); return err }},
		{"Users.Get", func(ctx context.Context) error { _, err := s.Users.Get(ctx, o.ID, admin.ID); return err }},
		{"Users.List", func(ctx context.Context) error { _, err := s.Users.List(ctx, o.ID); return err }},
		{"Users.SetRole", func(ctx context.Context) error {
			_, err := s.Users.SetRole(ctx, o.ID, member.ID, domain.RoleAdmin)
			return err
		}},
		{"Users.Delete", func(ctx context.Context) error { return errOf2(s.Users.Delete(ctx, o.ID, member.ID)) }},
		{"Users.SetPassword", func(ctx context.Context) error {
			return s.Users.SetPassword(ctx, o.ID, admin.ID, "$2a$10$other")
		}},
		{"Invites.Create", func(ctx context.Context) error {
			return s.Invites.Create(ctx, &domain.Invite{OrgID: o.ID, CodeHash: unique("hash"), Role: domain.RoleUser,
				ExpiresAt: t0.Add(time.Hour), CreatedAt: t0})
		}},
		{"Invites.ByCodeHash", func(ctx context.Context) error { _, err := s.Invites.ByCodeHash(ctx, inv.CodeHash); return err }},
		{"Invites.MarkUsed", func(ctx context.Context) error { return s.Invites.MarkUsed(ctx, o.ID, inv.ID, t0) }},
		{"Tasks.Create", func(ctx context.Context) error { return s.Tasks.Create(ctx, newTask(t, o.ID, admin.ID, nil)) }},
		{"Tasks.Get", func(ctx context.Context) error { _, err := s.Tasks.Get(ctx, o.ID, tk.ID); return err }},
		{"Tasks.List", func(ctx context.Context) error {
			_, err := s.Tasks.List(ctx, o.ID, ports.TaskFilter{Limit: 10})
			return err
		}},
		{"Tasks.Update", func(ctx context.Context) error {
			_, err := s.Tasks.Update(ctx, o.ID, tk.ID, func(task *domain.Task) error { task.Title = "renamed"; return nil })
			return err
		}},
		{"Tasks.Delete", func(ctx context.Context) error { return errOf(s.Tasks.Delete(ctx, o.ID, tk.ID, 0)) }},
		{"Tasks.Delete_at_a_version", func(ctx context.Context) error { return errOf(s.Tasks.Delete(ctx, o.ID, tk.ID, tk.Version)) }},
		{"Sessions.Create", func(ctx context.Context) error {
			return s.Sessions.Create(ctx, &domain.Session{OrgID: o.ID, UserID: admin.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
				unique("h"))
		}},
		{"Sessions.Rotate", func(ctx context.Context) error {
			_, err := s.Sessions.Rotate(ctx, o.ID, refresh, unique("h"), t0)
			return err
		}},
		{"Sessions.Revoke", func(ctx context.Context) error { return s.Sessions.Revoke(ctx, o.ID, member.ID, sess.ID, t0) }},
		{"Sessions.RevokeByRefresh", func(ctx context.Context) error {
			return s.Sessions.RevokeByRefresh(ctx, o.ID, member.ID, refresh, t0)
		}},
		{"Sessions.RevokeUser", func(ctx context.Context) error { return s.Sessions.RevokeUser(ctx, o.ID, member.ID, t0) }},
		{"Sessions.Principal", func(ctx context.Context) error {
			_, err := s.Sessions.Principal(ctx, o.ID, member.ID, sess.ID, t0)
			return err
		}},
		{"Events.Append", func(ctx context.Context) error {
			return s.Events.Append(ctx, newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, int64(tk.ID)))
		}},
		{"Events.List", func(ctx context.Context) error {
			_, err := s.Events.List(ctx, o.ID, ports.EventFilter{Limit: 10})
			return err
		}},
		{"Events.Last", func(ctx context.Context) error { _, err := s.Events.Last(ctx, o.ID); return err }},
		{"Events.Purge", func(ctx context.Context) error { _, err := s.Events.Purge(ctx, ancient, 10); return err }},
		{"InTx", func(ctx context.Context) error {
			return g.Tx.InTx(ctx, func(s ports.Stores) error { return s.Tasks.Create(ctx, newTask(t, o.ID, admin.ID, nil)) })
		}},
		{"Ping", func(ctx context.Context) error { return g.Pinger.Ping(ctx) }},
	}

	g.Stop()
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := c.call(ctx)
		cancel()
		if !errors.Is(err, domain.ErrDatabaseUnavailable) || domain.KindOf(err) != domain.KindUnavailable {
			t.Errorf("%s with the database gone: got %v (kind %d), want domain.ErrDatabaseUnavailable", c.name, err, domain.KindOf(err))
		}
	}
	if g.Start == nil || t.Failed() {
		return
	}

	g.Start()
	// The pool still holds connections to the server that went away; the
	// first calls may find them dead. They may fail as unavailable while
	// that is noticed, never otherwise.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Tasks.Get(t.Context(), o.ID, tk.ID)
		if err == nil {
			break
		}
		if !errors.Is(err, domain.ErrDatabaseUnavailable) {
			t.Fatalf("Tasks.Get after the database came back: %v, want success or domain.ErrDatabaseUnavailable", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Tasks.Get still fails 10 s after the database came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Every call of the kinds above works again on the same pool: nothing
	// written while the database was gone is there, and nothing is stuck.
	got := f.getTask(o.ID, tk.ID)
	wantEqual(t, "task after the outage", got.Title, tk.Title)
	f.task(o.ID, admin.ID, nil)
	wantNoErr(t, "InTx after the outage", g.Tx.InTx(t.Context(), func(s ports.Stores) error {
		_, err := s.Users.List(t.Context(), o.ID)
		return err
	}))
}
