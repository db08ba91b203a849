package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Auth signs people up (by invite only), logs them in and resolves access
// tokens to the caller as the store knows it now.
type Auth struct {
	tx         ports.Transactor
	users      ports.UserStore
	sessions   ports.SessionStore
	keys       ports.APIKeyStore
	hasher     ports.PasswordHasher
	tokens     Tokens
	clock      ports.Clock
	codes      ports.CodeGenerator
	cache      *OrgCache
	refreshTTL time.Duration
	// dummyHash is compared against when the email is unknown, so a login
	// costs the same bcrypt work whether or not the account exists. It is
	// computed in the background at start-up (a quarter of a second at
	// cost 12 that start-up need not wait for); the first unknown-email
	// login waits for it if it comes sooner.
	//
	// The dummy is at the configured cost, not that of the most common
	// stored hashes: after a BCRYPT_COST change the hasher makes a wrong
	// password on an account not yet rehashed cost as much (see
	// adapters/auth Bcrypt.Compare), and each account is rehashed at its
	// next login, so both paths cost the configured work from the moment
	// of the change, with no query to find what is common.
	dummyHash func() (string, error)
	log       *slog.Logger
	rec       recorder
}

// Tokens issues and verifies access tokens.
type Tokens interface {
	ports.TokenIssuer
	ports.TokenVerifier
}

// NewAuth builds the use case; a login session lasts refreshTTL. It
// starts hashing one throw-away password to have a hash of the configured
// cost for unknown-email logins.
//
// cache holds the session check of every authenticated request (nil: no
// caching); everything that ends a session or changes a role invalidates
// the organization's sessions space before it returns.
//
// log receives what a login cannot report to its caller: a failed rehash.
// rep renders the member that a sign-up's member.joined event carries.
func NewAuth(tx ports.Transactor, stores ports.Stores, hasher ports.PasswordHasher, tokens Tokens, clock ports.Clock,
	codes ports.CodeGenerator, cache *OrgCache, refreshTTL time.Duration, log *slog.Logger, rep Representer) (*Auth, error) {
	if refreshTTL <= 0 {
		return nil, fmt.Errorf("auth: the session lifetime must be positive, got %v", refreshTTL)
	}
	dummy := sync.OnceValues(func() (string, error) { return hasher.Hash("taskflow-timing-equalizer") })
	go dummy() //nolint:errcheck // the error is returned to the login that needs the hash
	return &Auth{tx: tx, users: stores.Users, sessions: stores.Sessions, keys: stores.APIKeys, hasher: hasher, tokens: tokens, clock: clock,
		codes: codes, cache: cache, refreshTTL: refreshTTL, dummyHash: dummy, log: log,
		rec: recorder{rep: rep, clock: clock}}, nil
}

// SignUpInput is what a new member sends. OrgID and Role are the original
// API's fields: optional, and when given they must match the invite.
type SignUpInput struct {
	Email      string
	Password   string
	InviteCode string
	OrgID      *domain.OrgID
	Role       *domain.Role
}

// SignUp creates a member from a valid, unused, unexpired invite. The
// organization and role come from the invite, never from the client.
func (a *Auth) SignUp(ctx context.Context, in SignUpInput) (*domain.User, error) {
	email, err := domain.NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := domain.ValidatePassword("password", in.Password); err != nil {
		return nil, err
	}
	if in.InviteCode == "" {
		return nil, domain.ErrInviteRequired
	}
	// Hashed before the transaction: bcrypt takes a quarter of a second,
	// and on SQLite the transaction holds the only write connection.
	hash, err := a.hasher.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	now := a.clock.Now()
	var user *domain.User
	err = a.tx.InTx(ctx, func(s ports.Stores) error {
		inv, err := s.Invites.ByCodeHash(ctx, hashCode(in.InviteCode))
		if errors.Is(err, domain.ErrInviteNotFound) {
			return domain.ErrInviteInvalid
		}
		if err != nil {
			return err
		}
		if err := inv.Usable(email, now); err != nil {
			return err
		}
		if (in.OrgID != nil && *in.OrgID != inv.OrgID) || (in.Role != nil && *in.Role != inv.Role) {
			return domain.ErrInviteMismatch
		}
		u := &domain.User{OrgID: inv.OrgID, Email: email, PasswordHash: hash, Role: inv.Role, CreatedAt: now.UTC()}
		if err := s.Users.Create(ctx, u); err != nil {
			return err
		}
		// A racing sign-up with the same code loses here and rolls back.
		if err := s.Invites.MarkUsed(ctx, inv.OrgID, inv.ID, now); err != nil {
			return err
		}
		user = u
		// The new member is the actor of their own joining.
		return a.rec.member(ctx, s, domain.EventActor{UserID: &u.ID}, domain.EventMemberJoined, u, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	return user, nil
}

// Token is an issued access token and the refresh token of its session.
type Token struct {
	AccessToken  string
	ExpiresIn    int64 // seconds
	RefreshToken string
}

// Login checks an email and password. Unknown email and wrong password
// give the same error after the same bcrypt work.
func (a *Auth) Login(ctx context.Context, email, password string) (*Token, error) {
	if len(password) > domain.MaxPasswordBytes {
		return nil, domain.Invalid(domain.FieldError{Field: "password", Message: "must be at most 72 bytes"})
	}
	norm, emailErr := domain.NormalizeEmail(email)
	var u *domain.User
	if emailErr == nil {
		var err error
		u, err = a.users.ByEmail(ctx, norm)
		if err != nil && !errors.Is(err, domain.ErrUserNotFound) {
			return nil, fmt.Errorf("login: %w", err)
		}
	}
	if u == nil {
		dummy, err := a.dummyHash()
		if err != nil {
			return nil, fmt.Errorf("login: dummy hash: %w", err)
		}
		_ = a.hasher.Compare(dummy, password)
		return nil, domain.ErrBadCredentials
	}
	if err := a.hasher.Compare(u.PasswordHash, password); err != nil {
		return nil, domain.ErrBadCredentials
	}
	if a.hasher.NeedsRehash(u.PasswordHash) {
		a.rehash(ctx, u, password)
	}
	refresh, err := a.newRefreshToken(u.OrgID)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	now := a.clock.Now()
	sess := &domain.Session{OrgID: u.OrgID, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(a.refreshTTL)}
	if err := a.sessions.Create(ctx, sess, hashCode(refresh)); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return a.issue(u, sess.ID, refresh)
}

// rehash stores the password's hash at the configured cost, after a login
// proved the password, for an account hashed at another cost: after a
// BCRYPT_COST change, each account converges on it at its next login, and
// with it the time its wrong passwords take. It is best effort: the login
// succeeds whatever happens here, and the account is rehashed at a later
// login instead.
func (a *Auth) rehash(ctx context.Context, u *domain.User, password string) {
	hash, err := a.hasher.Hash(password)
	if err == nil {
		err = a.users.ReplacePasswordHash(ctx, u.OrgID, u.ID, u.PasswordHash, hash)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "rehash password at the configured cost", "organization_id", int64(u.OrgID), "user_id", int64(u.ID), "err", err)
	}
}

// issue signs an access token for u in session sid, with refresh.
func (a *Auth) issue(u *domain.User, sid domain.SessionID, refresh string) (*Token, error) {
	tok, err := a.tokens.Issue(ports.TokenClaims{UserID: u.ID, OrgID: u.OrgID, Role: u.Role, SessionID: sid})
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	return &Token{AccessToken: tok, ExpiresIn: int64(a.tokens.TTL().Seconds()), RefreshToken: refresh}, nil
}

// Authenticate resolves a bearer token to the caller. The role comes from
// the store, not the token, and the token's session must still be live:
// a demotion, a removal, a logout or a password change takes effect on
// the very next request.
//
// The answer (the member's role in a live session) is cached in the
// organization's sessions space: the use cases that end sessions or
// change roles invalidate it after they commit, so "next request" holds
// with the cache; task writes leave it alone. Only session expiry, 30 days out, may be
// noticed up to CACHE_TTL late. A refusal is cached too (see
// principalRole), so that a flood of logged-out tokens costs one query.
//
// A token that starts with "tf_" is an API key (authenticateKey).
func (a *Auth) Authenticate(ctx context.Context, token string) (domain.Actor, error) {
	if strings.HasPrefix(token, apiKeyPrefix) {
		return a.authenticateKey(ctx, token)
	}
	c, err := a.tokens.Verify(token)
	if err != nil || c.SessionID < 1 {
		return domain.Actor{}, domain.ErrUnauthenticated
	}
	role, err := a.principalRole(ctx, c.OrgID, principalKey(c.UserID, c.SessionID), func() (*domain.User, error) {
		return a.sessions.Principal(ctx, c.OrgID, c.UserID, c.SessionID, a.clock.Now())
	})
	if err != nil {
		return domain.Actor{}, err
	}
	return domain.Actor{OrgID: c.OrgID, UserID: c.UserID, Role: role, SessionID: c.SessionID}, nil
}

// principalRole is the current role of a session's or an API key's member,
// through the organization's session-check cache under key; principal
// reads it from the store on a miss. A session, key or member that has
// ended is domain.ErrUnauthenticated.
//
// The refusal is cached as well as the role, under the same key and so
// with the same freshness: same space, generation and TTL, dropped by
// the same invalidations on every replica, bounded by the same per-space
// limit (memory) or TTL (Redis). It needs no more than that, since what
// the store refuses stays refused: a session or key that has ended never
// lives again, a removed member never comes back under their id, and ids
// are never reused (bigserial, AUTOINCREMENT). Nor can a refusal come from
// a session not yet visible: every read goes to the primary, and a token
// names its session only after the session's insert has committed.
func (a *Auth) principalRole(ctx context.Context, org domain.OrgID, key string,
	principal func() (*domain.User, error)) (domain.Role, error) {
	role, err := a.cache.load(ctx, org, ports.SpaceSessions, key, func() ([]byte, error) {
		u, err := principal()
		if errors.Is(err, domain.ErrUnauthenticated) {
			return []byte(refusedPrincipal), nil
		}
		if err != nil {
			return nil, err
		}
		return []byte(u.Role), nil
	})
	if err != nil {
		return "", fmt.Errorf("authenticate: %w", err)
	}
	if string(role) == refusedPrincipal {
		return "", domain.ErrUnauthenticated
	}
	return roleOf(role), nil
}

// roleOf is the role a session check stored: the constant itself for the
// two roles there are, so that a cached check makes no string
// (BenchmarkAuth_Authenticate_CacheHit).
func roleOf(b []byte) domain.Role {
	switch string(b) {
	case string(domain.RoleAdmin):
		return domain.RoleAdmin
	case string(domain.RoleUser):
		return domain.RoleUser
	}
	return domain.Role(b)
}

// refusedPrincipal is the cached answer of a check the store refused. It
// is no role, and lives under keys ("p2:", "k2:") that a replica of the
// version before it, which read every value as a role, never reads.
const refusedPrincipal = "-"

// principalKey names a session check in the organization's cache. Keys
// there start with what they hold: "p2:" session checks, their role or
// refusedPrincipal ("p:" held roles only, and is no longer read), "l2:"
// task lists with their tag ("l:" held them without one, and is no longer
// read), "t:" single tasks.
func principalKey(user domain.UserID, sid domain.SessionID) string {
	b := append([]byte("p2:"), strconv.FormatInt(int64(user), 10)...)
	b = append(b, ':')
	return string(strconv.AppendInt(b, int64(sid), 10))
}

// Me returns the caller's own user.
func (a *Auth) Me(ctx context.Context, actor domain.Actor) (*domain.User, error) {
	return a.users.Get(ctx, actor.OrgID, actor.UserID)
}
