package storetest

import (
	"errors"
	"testing"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var transactorTests = []test{
	{"commit_keeps_every_write", func(t *testing.T, f *fixture) {
		var o *domain.Organization
		var u *domain.User
		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			var err error
			if o, err = domain.NewOrganization(unique("org"), t0); err != nil {
				return err
			}
			if err := s.Orgs.Create(f.ctx, o); err != nil {
				return err
			}
			u = newUser(o.ID, domain.RoleAdmin)
			return s.Users.Create(f.ctx, u)
		})
		wantNoErr(t, "in tx", err)
		got, err := f.s.Orgs.Get(f.ctx, o.ID)
		wantNoErr(t, "get organization", err)
		wantEqual(t, "organization", got, o)
		wantEqual(t, "user", f.getUser(o.ID, u.ID), u)
	}},
	{"rollback_on_error_leaves_nothing", func(t *testing.T, f *fixture) {
		errStop := errors.New("stop")
		o := &domain.Organization{Name: unique("org"), CreatedAt: t0}
		u := newUser(0, domain.RoleAdmin)
		var inv *domain.Invite
		var tk *domain.Task
		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			if err := s.Orgs.Create(f.ctx, o); err != nil {
				return err
			}
			u.OrgID = o.ID
			if err := s.Users.Create(f.ctx, u); err != nil {
				return err
			}
			inv = &domain.Invite{OrgID: o.ID, CodeHash: unique("hash"), Role: domain.RoleUser,
				ExpiresAt: t0, CreatedAt: t0}
			if err := s.Invites.Create(f.ctx, inv); err != nil {
				return err
			}
			tk = newTask(t, o.ID, u.ID, &u.ID)
			if err := s.Tasks.Create(f.ctx, tk); err != nil {
				return err
			}
			// Reads inside the transaction see its writes.
			if _, err := s.Tasks.Get(f.ctx, o.ID, tk.ID); err != nil {
				return err
			}
			return errStop
		})
		wantErr(t, "in tx", err, errStop)

		// SQLite takes the ids back with the rollback (its AUTOINCREMENT
		// counter is a table the transaction wrote), so a subtest running
		// alongside may already hold o.ID or tk.ID: what must be gone is
		// this organization and this task, told apart by their unique
		// name and title.
		if got, err := f.s.Orgs.Get(f.ctx, o.ID); err == nil && got.Name == o.Name {
			t.Fatalf("organization %q still there after the rollback", o.Name)
		} else if err != nil {
			wantErr(t, "get organization", err, domain.ErrOrgNotFound)
		}
		_, err = f.s.Users.ByEmail(f.ctx, u.Email)
		wantErr(t, "get user", err, domain.ErrUserNotFound)
		_, err = f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantErr(t, "get invite", err, domain.ErrInviteNotFound)
		if got, err := f.s.Tasks.Get(f.ctx, o.ID, tk.ID); err == nil && got.Title == tk.Title {
			t.Fatalf("task %q still there after the rollback", tk.Title)
		} else if err != nil {
			wantErr(t, "get task", err, domain.ErrTaskNotFound)
		}
	}},
	{"store_calls_inside_join_the_transaction", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		second := f.user(o.ID, domain.RoleAdmin)
		tk := f.task(o.ID, admin.ID, nil)
		inv := f.invite(o.ID, "")
		errStop := errors.New("stop")

		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			if _, err := s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
				return cur.Transition(domain.StatusInProgress, t0)
			}); err != nil {
				return err
			}
			if _, err := s.Users.SetRole(f.ctx, o.ID, second.ID, domain.RoleUser); err != nil {
				return err
			}
			if err := s.Invites.MarkUsed(f.ctx, o.ID, inv.ID, t0); err != nil {
				return err
			}
			if _, err := s.Tasks.Delete(f.ctx, o.ID, tk.ID, 2); err != nil {
				return err
			}
			return errStop
		})
		wantErr(t, "in tx", err, errStop)

		wantEqual(t, "task", f.getTask(o.ID, tk.ID), tk)
		wantEqual(t, "second admin", f.getUser(o.ID, second.ID), second)
		got, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantNoErr(t, "get invite", err)
		wantEqual(t, "invite", got, inv)
	}},
	{"domain_errors_pass_through_unchanged", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			_, err := s.Users.SetRole(f.ctx, o.ID, admin.ID, domain.RoleUser)
			return err
		})
		wantErr(t, "in tx", err, domain.ErrLastAdmin)
		wantEqual(t, "kind", domain.KindOf(err), domain.KindConflict)
	}},
}
