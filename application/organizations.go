package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Organizations creates tenants and manages their invites and members.
type Organizations struct {
	tx        ports.Transactor
	users     ports.UserStore
	invites   ports.InviteStore
	clock     ports.Clock
	codes     ports.CodeGenerator
	cache     *OrgCache
	inviteTTL time.Duration
	rec       recorder
}

// NewOrganizations builds the use case; inviteTTL is how long a new invite
// (including the first ADMIN's) stays usable; rep renders the members and
// invites its events carry.
func NewOrganizations(tx ports.Transactor, stores ports.Stores, clock ports.Clock, codes ports.CodeGenerator, cache *OrgCache,
	inviteTTL time.Duration, rep Representer) *Organizations {
	return &Organizations{tx: tx, users: stores.Users, invites: stores.Invites, clock: clock, codes: codes, cache: cache,
		inviteTTL: inviteTTL, rec: recorder{rep: rep, clock: clock}}
}

// CreatedOrganization is a new tenant with the one-time code that lets its
// first ADMIN sign up. The code is shown once and stored only hashed.
type CreatedOrganization struct {
	Org    domain.Organization
	Invite IssuedInvite
}

// IssuedInvite is an invite together with its clear-text code.
type IssuedInvite struct {
	Code   string
	Invite domain.Invite
}

// Create makes an organization and its first ADMIN invite in one
// transaction: an organization never exists without a way in. Its event
// log starts with that invite's invite.created, made by no member.
func (o *Organizations) Create(ctx context.Context, name string) (*CreatedOrganization, error) {
	now := o.clock.Now()
	org, err := domain.NewOrganization(name, now)
	if err != nil {
		return nil, err
	}
	var out CreatedOrganization
	err = o.tx.InTx(ctx, func(s ports.Stores) error {
		if err := s.Orgs.Create(ctx, org); err != nil {
			return err
		}
		inv, err := o.issue(ctx, s.Invites, org.ID, nil, domain.RoleAdmin, "", now)
		if err != nil {
			return err
		}
		out = CreatedOrganization{Org: *org, Invite: *inv}
		return o.rec.invite(ctx, s, domain.EventActor{}, domain.EventInviteCreated, &inv.Invite)
	})
	if err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	return &out, nil
}

// CreateInvite lets an ADMIN invite someone with a role, optionally bound
// to one email address. A receipt (a request with an Idempotency-Key)
// stores the answer, code included, with the invite.
func (o *Organizations) CreateInvite(ctx context.Context, actor domain.Actor, role domain.Role, email string,
	receipt *Receipt[*IssuedInvite]) (*IssuedInvite, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	if email != "" {
		e, err := domain.NormalizeEmail(email)
		if err != nil {
			return nil, err
		}
		email = e
	}
	var out *IssuedInvite
	err := o.tx.InTx(ctx, func(s ports.Stores) error {
		inv, err := o.issue(ctx, s.Invites, actor.OrgID, &actor.UserID, role, email, o.clock.Now())
		if err != nil {
			return err
		}
		out = inv
		if err := receipt.complete(ctx, s, inv); err != nil {
			return err
		}
		return o.rec.invite(ctx, s, domain.ActorOf(actor), domain.EventInviteCreated, &inv.Invite)
	})
	if err != nil {
		return nil, fmt.Errorf("create invite: %w", err)
	}
	return out, nil
}

// issue makes an invite to org, made by creator (nil: with the
// organization itself).
func (o *Organizations) issue(ctx context.Context, invites ports.InviteStore, org domain.OrgID, creator *domain.UserID,
	role domain.Role, email string, now time.Time) (*IssuedInvite, error) {
	code, err := o.codes.NewCode()
	if err != nil {
		return nil, fmt.Errorf("invite code: %w", err)
	}
	inv := &domain.Invite{OrgID: org, CodeHash: hashCode(code), Role: role, Email: email,
		CreatedAt: now.UTC(), ExpiresAt: now.UTC().Add(o.inviteTTL), CreatedBy: creator}
	if err := invites.Create(ctx, inv); err != nil {
		// The creator was removed while the invite was being made (a
		// demotion meanwhile is domain.ErrForbidden, as it should be).
		if errors.Is(err, domain.ErrUserNotFound) {
			return nil, domain.ErrUnauthenticated
		}
		return nil, err
	}
	return &IssuedInvite{Code: code, Invite: *inv}, nil
}

// Invites lists the organization's invites that can still be used, for
// an ADMIN; the codes themselves are never stored, so never shown.
func (o *Organizations) Invites(ctx context.Context, actor domain.Actor) ([]domain.Invite, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	invs, err := o.invites.ListUsable(ctx, actor.OrgID, o.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	return invs, nil
}

// RevokeInvite lets an ADMIN withdraw an unused invite: its code stops
// working at once.
func (o *Organizations) RevokeInvite(ctx context.Context, actor domain.Actor, id int64) error {
	if !actor.IsAdmin() {
		return domain.ErrForbidden
	}
	err := o.tx.InTx(ctx, func(s ports.Stores) error {
		inv, err := s.Invites.Delete(ctx, actor.OrgID, id)
		if err != nil {
			return err
		}
		return o.rec.invite(ctx, s, domain.ActorOf(actor), domain.EventInviteRevoked, inv)
	})
	if err != nil {
		return fmt.Errorf("revoke invite: %w", err)
	}
	return nil
}

// Members lists the caller's organization.
func (o *Organizations) Members(ctx context.Context, actor domain.Actor) ([]domain.User, error) {
	return o.users.List(ctx, actor.OrgID)
}

// SetRole lets an ADMIN change a member's role; the last ADMIN stays one.
// A change records member.role_changed; setting the role a member has
// already changes nothing and records nothing.
func (o *Organizations) SetRole(ctx context.Context, actor domain.Actor, id domain.UserID, role domain.Role) (*domain.User, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	var out *domain.User
	err := o.tx.InTx(ctx, func(s ports.Stores) error {
		before, err := s.Users.Get(ctx, actor.OrgID, id)
		if err != nil {
			return err
		}
		if out, err = s.Users.SetRole(ctx, actor.OrgID, id, role); err != nil {
			return err
		}
		if before.Role == role {
			return nil
		}
		// An ADMIN's invites stand for an ADMIN's judgement: when it is
		// withdrawn, so are the invites not yet used, or a demoted ADMIN
		// could still let in anyone, ADMINs included.
		if before.Role == domain.RoleAdmin {
			if err := s.Invites.DeleteUnusedBy(ctx, actor.OrgID, id); err != nil {
				return err
			}
		}
		// A new role starts with a new login: tokens that carried the old
		// one are ended with their sessions.
		if err := s.Sessions.RevokeUser(ctx, actor.OrgID, id, o.clock.Now()); err != nil {
			return err
		}
		// The invites the demotion dropped are part of this change, not
		// events of their own.
		return o.rec.member(ctx, s, domain.ActorOf(actor), domain.EventMemberRoleChanged, out,
			[]change{{"role", before.Role, out.Role}})
	})
	if err != nil {
		return nil, fmt.Errorf("set role: %w", err)
	}
	// The member's cached session checks carry the old role.
	o.cache.invalidate(ctx, actor.OrgID, ports.SpaceSessions)
	return out, nil
}

// RemoveMember lets an ADMIN remove a member; the last ADMIN stays. It
// records member.removed, then task.updated for each task the member was
// assigned, which is left unassigned (the member's invites, sessions and
// API keys go with them, as part of the removal).
func (o *Organizations) RemoveMember(ctx context.Context, actor domain.Actor, id domain.UserID) error {
	if !actor.IsAdmin() {
		return domain.ErrForbidden
	}
	// A removed member's unused invites go in the same transaction: an
	// ADMIN removed for cause must not keep a code to sign up again with.
	// (The store's foreign key takes them too; this does not rely on it.)
	err := o.tx.InTx(ctx, func(s ports.Stores) error {
		removed, unassigned, err := s.Users.Delete(ctx, actor.OrgID, id)
		if err != nil {
			return err
		}
		if err := s.Invites.DeleteUnusedBy(ctx, actor.OrgID, id); err != nil {
			return err
		}
		by := domain.ActorOf(actor)
		if err := o.rec.member(ctx, s, by, domain.EventMemberRemoved, removed, nil); err != nil {
			return err
		}
		for i := range unassigned {
			t := &unassigned[i]
			if err := o.rec.task(ctx, s, by, domain.EventTaskUpdated, t,
				[]change{{"assignee_id", int64(id), nil}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	// The member's tasks were unassigned and their sessions are gone: the
	// cached lists and session checks are stale.
	o.cache.invalidate(ctx, actor.OrgID, ports.SpaceTasks, ports.SpaceSessions)
	return nil
}
