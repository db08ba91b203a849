package application

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Refresh tokens read "rt1.<organization id>.<random>": the organization
// lets the lookup be scoped to one tenant (and so pass row-level security)
// before anything else is known; the random part carries the secret.
const refreshPrefix = "rt1."

func (a *Auth) newRefreshToken(org domain.OrgID) (string, error) {
	code, err := a.codes.NewCode()
	if err != nil {
		return "", fmt.Errorf("refresh token: %w", err)
	}
	return refreshPrefix + strconv.FormatInt(int64(org), 10) + "." + code, nil
}

// refreshOrg reads the organization out of a refresh token; a token that
// does not parse is simply invalid.
func refreshOrg(token string) (domain.OrgID, bool) {
	rest, ok := strings.CutPrefix(token, refreshPrefix)
	if !ok {
		return 0, false
	}
	orgText, secret, ok := strings.Cut(rest, ".")
	org, err := strconv.ParseInt(orgText, 10, 64)
	if !ok || err != nil || org < 1 || len(secret) < 32 {
		return 0, false
	}
	return domain.OrgID(org), true
}

// Refresh exchanges a refresh token for a new pair in the same session.
// The old token is spent; presenting it again ends the session, since
// only a stolen copy would be presented twice.
func (a *Auth) Refresh(ctx context.Context, refresh string) (*Token, error) {
	org, ok := refreshOrg(refresh)
	if !ok {
		return nil, domain.ErrRefreshInvalid
	}
	next, err := a.newRefreshToken(org)
	if err != nil {
		return nil, err
	}
	now := a.clock.Now()
	sess, err := a.sessions.Rotate(ctx, org, hashCode(refresh), hashCode(next), now)
	if errors.Is(err, domain.ErrRefreshReused) {
		// Rotate ended the session: its cached check must go too.
		a.cache.invalidate(ctx, org, ports.SpaceSessions)
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	// The access token carries the member's current role.
	u, err := a.sessions.Principal(ctx, org, sess.UserID, sess.ID, now)
	if errors.Is(err, domain.ErrUnauthenticated) {
		return nil, domain.ErrRefreshInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return a.issue(u, sess.ID, next)
}

// Logout ends the caller's session, and the session of refresh if the
// caller sends one of their own.
func (a *Auth) Logout(ctx context.Context, actor domain.Actor, refresh string) error {
	if actor.ViaAPIKey() {
		return domain.ErrAPIKeyNotAllowed
	}
	now := a.clock.Now()
	if err := a.sessions.Revoke(ctx, actor.OrgID, actor.UserID, actor.SessionID, now); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if org, ok := refreshOrg(refresh); ok && org == actor.OrgID {
		if err := a.sessions.RevokeByRefresh(ctx, actor.OrgID, actor.UserID, hashCode(refresh), now); err != nil {
			return fmt.Errorf("logout: %w", err)
		}
	}
	a.cache.invalidate(ctx, actor.OrgID, ports.SpaceSessions)
	return nil
}

// ChangePassword replaces the caller's password after checking the
// current one, and ends every session of theirs, this one included:
// whoever else held a token is out.
//
// A caller with an API key may not: the key would outlive the sessions
// the change ends, and stand in for the password it replaces.
func (a *Auth) ChangePassword(ctx context.Context, actor domain.Actor, current, next string) error {
	if actor.ViaAPIKey() {
		return domain.ErrAPIKeyNotAllowed
	}
	if err := domain.ValidatePassword("new_password", next); err != nil {
		return err
	}
	u, err := a.users.Get(ctx, actor.OrgID, actor.UserID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if len(current) > domain.MaxPasswordBytes || a.hasher.Compare(u.PasswordHash, current) != nil {
		return domain.ErrWrongPassword
	}
	hash, err := a.hasher.Hash(next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	now := a.clock.Now()
	err = a.tx.InTx(ctx, func(s ports.Stores) error {
		if err := s.Users.SetPassword(ctx, actor.OrgID, actor.UserID, hash); err != nil {
			return err
		}
		return s.Sessions.RevokeUser(ctx, actor.OrgID, actor.UserID, now)
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	a.cache.invalidate(ctx, actor.OrgID, ports.SpaceSessions)
	return nil
}
