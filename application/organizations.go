package application

import (
	"context"
	"fmt"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Organizations creates tenants and manages their invites and members.
type Organizations struct {
	tx        ports.Transactor
	users     ports.UserStore
	clock     ports.Clock
	codes     ports.CodeGenerator
	cache     *OrgCache
	inviteTTL time.Duration
}

// NewOrganizations builds the use case; inviteTTL is how long a new invite
// (including the first ADMIN's) stays usable.
func NewOrganizations(tx ports.Transactor, users ports.UserStore, clock ports.Clock, codes ports.CodeGenerator, cache *OrgCache, inviteTTL time.Duration) *Organizations {
	return &Organizations{tx: tx, users: users, clock: clock, codes: codes, cache: cache, inviteTTL: inviteTTL}
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
// transaction: an organization never exists without a way in.
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
		inv, err := o.issue(ctx, s.Invites, org.ID, domain.RoleAdmin, "", now)
		if err != nil {
			return err
		}
		out = CreatedOrganization{Org: *org, Invite: *inv}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	return &out, nil
}

// CreateInvite lets an ADMIN invite someone with a role, optionally bound
// to one email address.
func (o *Organizations) CreateInvite(ctx context.Context, actor domain.Actor, role domain.Role, email string) (*IssuedInvite, error) {
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
		inv, err := o.issue(ctx, s.Invites, actor.OrgID, role, email, o.clock.Now())
		out = inv
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create invite: %w", err)
	}
	return out, nil
}

func (o *Organizations) issue(ctx context.Context, invites ports.InviteStore, org domain.OrgID, role domain.Role, email string, now time.Time) (*IssuedInvite, error) {
	code, err := o.codes.NewCode()
	if err != nil {
		return nil, fmt.Errorf("invite code: %w", err)
	}
	inv := &domain.Invite{OrgID: org, CodeHash: hashCode(code), Role: role, Email: email,
		CreatedAt: now.UTC(), ExpiresAt: now.UTC().Add(o.inviteTTL)}
	if err := invites.Create(ctx, inv); err != nil {
		return nil, err
	}
	return &IssuedInvite{Code: code, Invite: *inv}, nil
}

// Members lists the caller's organization.
func (o *Organizations) Members(ctx context.Context, actor domain.Actor) ([]domain.User, error) {
	return o.users.List(ctx, actor.OrgID)
}

// SetRole lets an ADMIN change a member's role; the last ADMIN stays one.
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
		// A new role starts with a new login: tokens that carried the old
		// one are ended with their sessions.
		return s.Sessions.RevokeUser(ctx, actor.OrgID, id, o.clock.Now())
	})
	if err != nil {
		return nil, fmt.Errorf("set role: %w", err)
	}
	// The member's cached session checks carry the old role.
	o.cache.invalidate(ctx, actor.OrgID, ports.SpaceSessions)
	return out, nil
}

// RemoveMember lets an ADMIN remove a member; the last ADMIN stays.
func (o *Organizations) RemoveMember(ctx context.Context, actor domain.Actor, id domain.UserID) error {
	if !actor.IsAdmin() {
		return domain.ErrForbidden
	}
	if err := o.users.Delete(ctx, actor.OrgID, id); err != nil {
		return err
	}
	// The member's tasks were unassigned and their sessions are gone: the
	// cached lists and session checks are stale.
	o.cache.invalidate(ctx, actor.OrgID, ports.SpaceTasks, ports.SpaceSessions)
	return nil
}
