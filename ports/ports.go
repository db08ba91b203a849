// Package ports declares the outbound interfaces the application core needs
// from the outside world: stores, the list cache, the password hasher, the
// token issuer and verifier, the clock and the random code generator.
// (Inbound adapters, such as the HTTP handlers, call the application
// directly and have no port here.) It imports only the domain and the
// standard library; adapters implement these interfaces.
package ports

import (
	"context"
	"errors"
	"time"

	"github.com/taskflow/taskflow/domain"
)

// OrgStore persists organizations.
type OrgStore interface {
	// Create inserts org and sets its ID.
	Create(ctx context.Context, org *domain.Organization) error
	Get(ctx context.Context, id domain.OrgID) (*domain.Organization, error)
}

// UserStore persists users. Every method but the login lookup is scoped by
// organization; a user of another organization is domain.ErrUserNotFound.
type UserStore interface {
	// Create inserts u and sets its ID; a taken email (any case, any
	// organization) is domain.ErrEmailTaken.
	Create(ctx context.Context, u *domain.User) error
	// ByEmail finds a user by normalized email across all organizations.
	// It serves login only, before any tenant is known.
	ByEmail(ctx context.Context, email string) (*domain.User, error)
	Get(ctx context.Context, org domain.OrgID, id domain.UserID) (*domain.User, error)
	// List returns the organization's members, oldest first.
	List(ctx context.Context, org domain.OrgID) ([]domain.User, error)
	// SetRole changes a member's role. Demoting the last ADMIN is
	// domain.ErrLastAdmin; the check and the write are atomic.
	SetRole(ctx context.Context, org domain.OrgID, id domain.UserID, role domain.Role) (*domain.User, error)
	// Delete removes a member and returns them as they were, with the
	// tasks that were assigned to them as they are now (unassigned, their
	// version moved on), so that the caller can record each change.
	// Removing the last ADMIN is domain.ErrLastAdmin; the check and the
	// write are atomic. The member's sessions and the invites they made
	// go.
	Delete(ctx context.Context, org domain.OrgID, id domain.UserID) (*domain.User, []domain.Task, error)
	// SetPassword replaces a member's password hash.
	SetPassword(ctx context.Context, org domain.OrgID, id domain.UserID, hash string) error
	// ReplacePasswordHash stores newHash for the member only while the
	// stored hash is still oldHash (a rehash of the same password at
	// another cost). A hash changed meanwhile, by a password change that
	// must win, stays; that is not an error, and neither is an absent
	// member.
	ReplacePasswordHash(ctx context.Context, org domain.OrgID, id domain.UserID, oldHash, newHash string) error
}

// InviteStore persists invites, found by the hash of their code.
type InviteStore interface {
	// Create inserts inv and sets its ID. With a creator, the creator must
	// be an ADMIN of the organization as the invite is made, atomically
	// with a concurrent demotion or removal: else domain.ErrForbidden, or
	// domain.ErrUserNotFound for no such member.
	Create(ctx context.Context, inv *domain.Invite) error
	// ByCodeHash finds an invite by code hash, used or not; absent is
	// domain.ErrInviteNotFound.
	ByCodeHash(ctx context.Context, codeHash string) (*domain.Invite, error)
	// MarkUsed marks an unused invite used at the given time. An invite
	// already used (by a racing sign-up) is domain.ErrInviteInvalid.
	MarkUsed(ctx context.Context, org domain.OrgID, id int64, at time.Time) error
	// ListUsable returns the organization's invites that are unused and
	// unexpired at now, oldest first.
	ListUsable(ctx context.Context, org domain.OrgID, now time.Time) ([]domain.Invite, error)
	// Delete removes an unused invite, so its code stops working, and
	// returns it as it was. A used, absent or other organization's invite
	// is domain.ErrInviteNotFound.
	Delete(ctx context.Context, org domain.OrgID, id int64) (*domain.Invite, error)
	// DeleteUnusedBy removes the unused invites that member made.
	DeleteUnusedBy(ctx context.Context, org domain.OrgID, member domain.UserID) error
}

// TaskFilter selects a page of an organization's tasks, newest first.
type TaskFilter struct {
	Status   *domain.Status
	Assignee *domain.UserID
	// Unassigned selects tasks with no assignee (Assignee is then nil).
	Unassigned bool
	Priority   *domain.Priority
	// Label is normalised as stored (trimmed, lower-cased).
	Label *string
	// DueBefore and DueAfter are exclusive bounds on due_at; a task
	// without a due date matches neither.
	DueBefore *time.Time
	DueAfter  *time.Time
	// Search, when not empty, selects the tasks whose title or
	// description holds every one of these words (domain.ParseSearch's:
	// case-folded, whole words, sorted).
	Search []string
	Limit  int
	Offset int
	// Sort orders the page; "" is SortCreatedDesc. Ties break by id
	// descending whatever the sort, so the order is total.
	Sort TaskSort
	// After, when set, is the keyset cursor: only tasks after this
	// position in Sort's order.
	After *TaskCursor
}

// TaskSort is an order of a task list.
type TaskSort string

// The orders a task list can be read in.
const (
	SortCreatedDesc  TaskSort = "-created"
	SortCreated      TaskSort = "created"
	SortUpdatedDesc  TaskSort = "-updated"
	SortUpdated      TaskSort = "updated"
	SortDue          TaskSort = "due" // soonest first, tasks without a due date last
	SortPriorityDesc TaskSort = "-priority"
)

// TaskSorts lists every TaskSort.
var TaskSorts = []TaskSort{SortCreatedDesc, SortCreated, SortUpdatedDesc, SortUpdated, SortDue, SortPriorityDesc}

// TaskCursor is a position in a sorted list: the sort key of the last
// task seen and its id. Time is the key of the updated and due sorts
// (nil for a task without a due date under SortDue), Rank that of
// SortPriorityDesc; the created sorts order by id alone, the order in
// which the database numbered the tasks, so ID is their whole key.
type TaskCursor struct {
	Time *time.Time
	Rank int
	ID   domain.TaskID
}

// CursorOf is the position of t under sort.
func CursorOf(sort TaskSort, t *domain.Task) TaskCursor {
	c := TaskCursor{ID: t.ID}
	switch sort {
	case SortUpdated, SortUpdatedDesc:
		at := t.UpdatedAt
		c.Time = &at
	case SortDue:
		if t.DueAt != nil {
			at := *t.DueAt
			c.Time = &at
		}
	case SortPriorityDesc:
		c.Rank = t.Priority.Rank()
	case SortCreated, SortCreatedDesc:
		// The id alone is the key.
	}
	return c
}

// TaskPage is one page of tasks and whether more follow it.
type TaskPage struct {
	Tasks   []domain.Task
	HasMore bool
}

// TaskStore persists tasks. Every method is scoped by organization; a task
// of another organization is domain.ErrTaskNotFound.
type TaskStore interface {
	// Create inserts t and sets its ID. An assignee that is not a member
	// of t's organization is a domain.KindInvalid error.
	Create(ctx context.Context, t *domain.Task) error
	Get(ctx context.Context, org domain.OrgID, id domain.TaskID) (*domain.Task, error)
	List(ctx context.Context, org domain.OrgID, f TaskFilter) (TaskPage, error)
	// Update loads the task, locked against concurrent writers, lets fn
	// change it, and writes it back with its version incremented, all in
	// one transaction. An error from fn aborts the update and is returned.
	Update(ctx context.Context, org domain.OrgID, id domain.TaskID, fn func(*domain.Task) error) (*domain.Task, error)
	// Delete removes the task and returns it as it was. With
	// expectVersion > 0 a task at another version is
	// domain.ErrVersionMismatch and stays.
	Delete(ctx context.Context, org domain.OrgID, id domain.TaskID, expectVersion int64) (*domain.Task, error)
}

// SessionStore persists login sessions and their refresh tokens, which
// are stored as hashes only. Every method is scoped by organization.
type SessionStore interface {
	// Create inserts s with its first refresh token and sets s.ID.
	Create(ctx context.Context, s *domain.Session, refreshHash string) error
	// Rotate spends the unused refresh token oldHash of a live session of
	// org and stores newHash as its successor, atomically, returning the
	// session. A token already spent ends its whole session and is
	// domain.ErrRefreshReused; an unknown token, or one of an ended or
	// expired session, is domain.ErrRefreshInvalid.
	Rotate(ctx context.Context, org domain.OrgID, oldHash, newHash string, now time.Time) (*domain.Session, error)
	// Revoke ends one session of a member; an already ended or absent
	// session is not an error.
	Revoke(ctx context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, now time.Time) error
	// RevokeByRefresh ends the session of the member that refreshHash
	// belongs to, if any.
	RevokeByRefresh(ctx context.Context, org domain.OrgID, user domain.UserID, refreshHash string, now time.Time) error
	// RevokeUser ends every session of a member.
	RevokeUser(ctx context.Context, org domain.OrgID, user domain.UserID, now time.Time) error
	// Principal returns the member whose live session id is: the user as
	// stored now (so with the current role). A session that is ended,
	// expired, or not that member's is domain.ErrUnauthenticated.
	Principal(ctx context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, now time.Time) (*domain.User, error)
}

// APIKeyStore persists API keys, stored by the hash of their secret.
// Every method but ByHash is scoped by organization.
type APIKeyStore interface {
	// Create inserts k and sets its ID. A member not in k.OrgID is
	// domain.ErrUserNotFound.
	Create(ctx context.Context, k *domain.APIKey) error
	// ByHash returns the key whose secret hashes to hash, in whichever
	// organization it is: the one lookup made before the tenant is known.
	// An unknown hash is domain.ErrAPIKeyNotFound.
	ByHash(ctx context.Context, hash string) (*domain.APIKey, error)
	// Principal returns the member that key id of org belongs to, as
	// stored now (with the current role); a key that is gone, or expired
	// at now, is domain.ErrUnauthenticated.
	Principal(ctx context.Context, org domain.OrgID, id domain.APIKeyID, now time.Time) (*domain.User, error)
	// List returns org's keys, newest first: one member's (user > 0) or
	// every member's (user 0).
	List(ctx context.Context, org domain.OrgID, user domain.UserID) ([]*domain.APIKey, error)
	// Get returns key id of org; another organization's key is
	// domain.ErrAPIKeyNotFound.
	Get(ctx context.Context, org domain.OrgID, id domain.APIKeyID) (*domain.APIKey, error)
	// Delete removes key id of org; an absent key is domain.ErrAPIKeyNotFound.
	Delete(ctx context.Context, org domain.OrgID, id domain.APIKeyID) error
	// Touch sets last_used_at to now unless it was set less than
	// domain.APIKeyLastUsedEvery before now, and reports whether it wrote.
	Touch(ctx context.Context, org domain.OrgID, id domain.APIKeyID, now time.Time) (bool, error)
}

// EventFilter selects a page of an organization's events, oldest first.
type EventFilter struct {
	// After is the last event id seen: only later events (0: from the
	// first).
	After int64
	// Types are patterns (domain.IsEventPattern): exact types, prefixes
	// such as "task.*", or "*"; an event matching any of them is selected.
	// Empty selects every type.
	Types []string
	// SubjectType and SubjectID, when set, select the events about one
	// subject (SubjectType "" with a SubjectID: any kind of subject with
	// that id).
	SubjectType string
	SubjectID   *int64
	// Limit bounds the page; it must be positive.
	Limit int
}

// EventStore is the transactional outbox: the log of every change, per
// organization. Every method but Purge is scoped by organization.
type EventStore interface {
	// Append records e in the transaction of the change it records, so
	// that it commits or rolls back with it (e.OccurredAt is stored in UTC
	// microseconds and written back). An absent organization is
	// domain.ErrOrgNotFound.
	//
	// Ids follow commit order: a reader that has seen an id never later
	// meets a new event with a smaller one, and a rolled-back event leaves
	// no hole. A store gets there one of two ways, and a caller must
	// allow for both:
	//   - it queues the event and numbers it after the commit, in Number
	//     (e.ID stays 0; the event is listed once numbered); writers then
	//     never wait for each other (Postgres);
	//   - it numbers the event at once (e.ID is set), holding the
	//     organization's counter until the transaction ends, so a use case
	//     appends as the last statement of its transaction (SQLite, whose
	//     writers take turns anyway).
	Append(ctx context.Context, e *domain.Event) error
	// Number numbers the organization's committed, queued events (on any
	// replica, any number of callers at once), making them listed, and
	// returns its last event id: 0 before the first, or for an absent
	// organization. Where Append numbers at once it only reads the last id.
	Number(ctx context.Context, org domain.OrgID) (int64, error)
	// Queued returns up to limit organizations that have queued events,
	// for the sweep that numbers what a replica that died after its commit
	// left queued. Unscoped: it says which organizations, nothing else.
	Queued(ctx context.Context, limit int) ([]domain.OrgID, error)
	// List returns the organization's events that f selects, oldest
	// first.
	List(ctx context.Context, org domain.OrgID, f EventFilter) ([]domain.Event, error)
	// Last returns the id of the organization's newest listed event (0
	// before the first); every event listed later has a greater id, even
	// after older ones were purged.
	Last(ctx context.Context, org domain.OrgID) (int64, error)
	// Purge deletes at most batch events, of any organization, that
	// occurred before before, and returns how many it deleted: the
	// retention job calls it until it returns fewer than batch. While
	// another purge runs (another replica's, on a shared database) it
	// deletes nothing and returns 0.
	Purge(ctx context.Context, before time.Time, batch int) (int64, error)
}

// Stores groups the stores that a transaction spans.
type Stores struct {
	Orgs     OrgStore
	Users    UserStore
	Invites  InviteStore
	Tasks    TaskStore
	Sessions SessionStore
	APIKeys  APIKeyStore
	// Idempotency is here so that a use case completes a request's key in
	// the transaction that writes the resource.
	Idempotency IdempotencyStore
	// Events is the outbox: a use case appends the event of its change
	// here, in the change's transaction.
	Events EventStore
	// Webhooks is here so that settling a delivery, logging it and
	// recording a hook's disabling commit together.
	Webhooks WebhookStore
}

// Transactor runs fn with stores bound to one transaction: committed when
// fn returns nil, rolled back otherwise. A failed commit is returned.
type Transactor interface {
	InTx(ctx context.Context, fn func(Stores) error) error
}

// Pinger reports whether a dependency answers, for readiness checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ListCache caches serialized values per organization, space and key.
// Invalidation is per organization and space, and O(1): a generation
// counter is part of every entry's key, and Invalidate moves the counter
// on, so that nobody who reads the generations after an Invalidate
// returned finds an entry stored before it.
//
// A loader reads the generations first (all of the organization's spaces
// at once), looks up under its space's (Get returns nil on a miss), and on
// a miss passes that same generation to Set: a value loaded before a
// write that invalidated it is stored under a dead generation and never
// found under the new one.
//
// An Invalidate that returns an error may or may not have moved the
// generation on: until one succeeds, the caller must not serve that space
// of the organization from the cache.
type ListCache interface {
	Generations(ctx context.Context, org domain.OrgID) (Generations, error)
	Get(ctx context.Context, org domain.OrgID, space CacheSpace, gen uint64, key string) ([]byte, error)
	Set(ctx context.Context, org domain.OrgID, space CacheSpace, gen uint64, key string, value []byte) error
	Invalidate(ctx context.Context, org domain.OrgID, space CacheSpace) error
}

// ErrCacheSkipped is wrapped by the error of a ListCache call that did not
// reach its backend because the backend is known to be away (a circuit
// breaker is open): the caller falls back as for any error, but need not
// report it, since the cache reported the outage when it began.
var ErrCacheSkipped = errors.New("cache skipped: its backend is unreachable")

// CacheSpace is one of an organization's key spaces in a ListCache. Each
// has its own generation, so that what invalidates one leaves the others'
// entries alive: a task write does not drop the session checks.
type CacheSpace uint8

const (
	// SpaceTasks holds task lists and tasks.
	SpaceTasks CacheSpace = iota
	// SpaceSessions holds session checks (the caller's session and role).
	SpaceSessions
	// NumCacheSpaces counts the spaces.
	NumCacheSpaces
)

// Generations holds an organization's generation in each space.
type Generations [NumCacheSpaces]uint64

// PasswordHasher hashes and checks passwords.
type PasswordHasher interface {
	Hash(password string) (string, error)
	// Compare returns nil when password matches hash.
	Compare(hash, password string) error
	// NeedsRehash reports whether hash was made with other parameters
	// (a bcrypt cost) than Hash uses now.
	NeedsRehash(hash string) bool
}

// TokenClaims is what an access token asserts about its holder.
type TokenClaims struct {
	UserID    domain.UserID
	OrgID     domain.OrgID
	Role      domain.Role
	SessionID domain.SessionID
	ExpiresAt time.Time
}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	Issue(c TokenClaims) (token string, err error)
	TTL() time.Duration
}

// TokenVerifier checks an access token's signature, algorithm, issuer and
// expiry, and returns its claims.
type TokenVerifier interface {
	Verify(token string) (TokenClaims, error)
}

// Clock tells the time; tests pass a fixed one.
type Clock interface {
	Now() time.Time
}

// CodeGenerator makes unguessable one-time codes (invites).
type CodeGenerator interface {
	NewCode() (string, error)
}

// RateDecision is the outcome of counting one request against a limit.
type RateDecision struct {
	Allowed   bool
	Limit     int
	Remaining int           // requests left in the current window
	Reset     time.Duration // until the window ends
}

// RateLimiter counts requests per key in fixed windows. Implementations
// shared by replicas (Redis) make the limit hold across all of them. The
// count is taken whatever happens to the request afterwards: nothing a
// failing request does can roll it back.
type RateLimiter interface {
	// Allow counts one request for key against limit per window.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (RateDecision, error)
	// Peek reports, without counting anything, whether one more request
	// for key would be allowed, and how many are left in the window.
	// With Peek before the work and Allow after it, a caller counts only
	// some outcomes (failed logins) and still refuses before the work.
	Peek(ctx context.Context, key string, limit int, window time.Duration) (RateDecision, error)
}

// IdempotencyKey names one Idempotency-Key of one caller. The caller is
// part of the identity, not a filter on it: two callers of an
// organization (a user and, later, an API key: "user:7", "apikey:3") who
// send the same key make two unrelated requests, and one never sees the
// other's answer, which may hold a secret shown once.
type IdempotencyKey struct {
	OrgID  domain.OrgID
	Caller string
	Key    string
}

// IdempotencyClaim is a request's hold on its key, from Begin: the
// fingerprint of the request (method, path, body) and a token that only
// this holder knows, so that a request whose lease ran out and was taken
// over can no longer complete or release the key.
type IdempotencyClaim struct {
	IdempotencyKey
	Fingerprint string
	Token       string
}

// StoredResponse is an answer kept under a key, to replay byte for byte.
type StoredResponse struct {
	Status int
	// Header lists the header fields to replay (name, value), in order.
	Header [][2]string
	Body   []byte
}

// IdempotencyStore remembers, per caller and key, the answer to the first
// request that used the key. Every method is scoped by organization.
type IdempotencyStore interface {
	// Begin claims k for a request with fingerprint at now, for ttl, with
	// a lease: until the lease ends, the key is the claim holder's to
	// complete or release. It returns the claim; or, when the key is
	// completed for the same fingerprint and not expired, the stored
	// answer to replay (and a zero claim). A different fingerprint is
	// domain.ErrIdempotencyKeyReused, whatever the key's state; a key held
	// by another request within its lease is
	// domain.ErrIdempotencyKeyInProgress. An expired key, or a claim whose
	// lease ended, is taken over as if new. Begin commits on its own: call
	// it on stores outside a transaction.
	Begin(ctx context.Context, k IdempotencyKey, fingerprint string, now time.Time, lease, ttl time.Duration) (IdempotencyClaim, *StoredResponse, error)
	// Complete stores resp under the claim. A claim that is no longer held
	// (taken over after its lease) is domain.ErrIdempotencyKeyInProgress
	// and stores nothing: inside a transaction, returning it rolls the
	// resource back, so that no resource outlives its key.
	Complete(ctx context.Context, c IdempotencyClaim, resp StoredResponse) error
	// Release gives up an uncompleted claim, so that the client may retry
	// with the key at once. A claim no longer held is left alone, silently.
	Release(ctx context.Context, c IdempotencyClaim) error
}

// WebhookSettlement is what the dispatcher writes back after an attempt:
// the hook's delivery state (see domain.Webhook) and, when the hook is
// being disabled, why.
type WebhookSettlement struct {
	Cursor         int64
	Attempt        int
	NextAttemptAt  time.Time
	Failures       int
	Disable        bool
	DisabledReason string
}

// WebhookStore persists webhooks, their delivery state and the log of
// their delivery attempts. Every method but ClaimDue is scoped by
// organization.
type WebhookStore interface {
	// Create inserts w and sets its ID.
	Create(ctx context.Context, w *domain.Webhook) error
	// Get returns one hook of org; another organization's, or none, is
	// domain.ErrWebhookNotFound.
	Get(ctx context.Context, org domain.OrgID, id domain.WebhookID) (*domain.Webhook, error)
	// List returns org's hooks, oldest first.
	List(ctx context.Context, org domain.OrgID) ([]*domain.Webhook, error)
	// Update loads the hook locked against other writers, lets fn change
	// it, and writes back everything fn may change (url, events,
	// description, active, disabled_reason, secrets, delivery state,
	// updated_at). With releaseClaim, a dispatcher's claim on the hook is
	// dropped: its attempt in flight will not settle.
	Update(ctx context.Context, org domain.OrgID, id domain.WebhookID, releaseClaim bool,
		fn func(*domain.Webhook) error) (*domain.Webhook, error)
	// Delete removes the hook and its deliveries log.
	Delete(ctx context.Context, org domain.OrgID, id domain.WebhookID) error

	// ClaimDue claims, across organizations, at most limit active hooks
	// whose next attempt is due at now, that have events after their
	// cursor, and that no live claim holds: each until until, under
	// token. Two concurrent callers never claim the same hook (Postgres:
	// FOR UPDATE SKIP LOCKED). A claim lets its holder make one attempt
	// and Settle it without holding a transaction open meanwhile.
	ClaimDue(ctx context.Context, now, until time.Time, token string, limit int) ([]*domain.Webhook, error)
	// Settle writes s into the hook while token still holds its claim,
	// and ends the claim when release is true (else extends it to until).
	// It reports false, writing nothing, when the claim was lost (taken
	// over after its lease, dropped by Update, or the hook deleted).
	Settle(ctx context.Context, org domain.OrgID, id domain.WebhookID, token string, s WebhookSettlement,
		release bool, until time.Time) (bool, error)
	// LogDelivery appends d (setting its ID) to the hook's log and drops
	// the hook's entries beyond the newest domain.MaxWebhookDeliveries.
	LogDelivery(ctx context.Context, d *domain.WebhookDelivery) error
	// Deliveries returns the hook's logged attempts, newest first, at most
	// limit.
	Deliveries(ctx context.Context, org domain.OrgID, id domain.WebhookID, limit int) ([]domain.WebhookDelivery, error)
}

// WebhookMessage is one HTTP POST to a hook's URL: the Standard Webhooks
// webhook-id (the same on every retry of an event) and timestamp, the
// body, and the secrets to sign with ("whsec_..."; two during a
// rotation's overlap, each giving one signature).
type WebhookMessage struct {
	URL       string
	ID        string
	Timestamp time.Time
	Body      []byte
	Secrets   []string
	// WebhookID, EventID (0 for a ping) and Attempt (1 for the first)
	// say what is being sent, for the attempt's trace span.
	WebhookID domain.WebhookID
	EventID   int64
	Attempt   int
}

// WebhookResult is the outcome of one attempt: the answer's status code
// (0 when none came) and, when the attempt failed, why. TimedOut and
// Refused tell two failures apart from the others: the attempt ran out
// of time, or the target was not allowed (not a public address, not
// https://).
type WebhookResult struct {
	StatusCode int
	Err        string
	Duration   time.Duration
	TimedOut   bool
	Refused    bool
}

// Delivered reports whether the receiver accepted the message: any 2xx.
func (r WebhookResult) Delivered() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// WebhookAttemptResult classifies one delivery attempt of an event, the
// result label of taskflow_webhook_deliveries_total. Each attempt has
// exactly one, so their sum is the number of attempts.
type WebhookAttemptResult string

// The attempt results, a fixed set.
const (
	WebhookSuccess WebhookAttemptResult = "success" // a 2xx
	WebhookFailure WebhookAttemptResult = "failure" // another status, or the connection failed; retried
	WebhookTimeout WebhookAttemptResult = "timeout" // no answer within WEBHOOK_TIMEOUT; retried
	WebhookRefused WebhookAttemptResult = "refused" // the target is not allowed (request forgery); retried
	// WebhookExhausted is a failed attempt (whatever the cause) that was
	// the event's last: the hook moves on without it.
	WebhookExhausted WebhookAttemptResult = "exhausted"
)

// WebhookAttemptResults lists every result, in a fixed order.
var WebhookAttemptResults = []WebhookAttemptResult{WebhookSuccess, WebhookFailure, WebhookTimeout, WebhookRefused, WebhookExhausted}

// Result classifies the attempt; last says whether it was the event's
// last attempt (a failure then is WebhookExhausted).
func (r WebhookResult) Result(last bool) WebhookAttemptResult {
	switch {
	case r.Delivered():
		return WebhookSuccess
	case last:
		return WebhookExhausted
	case r.Refused:
		return WebhookRefused
	case r.TimedOut:
		return WebhookTimeout
	}
	return WebhookFailure
}

// WebhookMeter counts the webhook dispatcher's attempts (the metrics
// adapter implements it; nil means none are counted).
type WebhookMeter interface {
	// WebhookAttempted counts one attempt at an event by its result.
	WebhookAttempted(r WebhookAttemptResult)
}

// WebhookSender posts a message to a hook's URL, signed, within its
// timeout, refusing targets that are not allowed (request forgery) at
// connect time. It never follows redirects.
type WebhookSender interface {
	Send(ctx context.Context, m WebhookMessage) WebhookResult
}

// WebhookTargetChecker checks, at registration, that a URL's host
// resolves only to addresses a hook may be sent to. A refusal is a
// domain validation error on the field "url".
type WebhookTargetChecker interface {
	CheckTarget(ctx context.Context, rawURL string) error
}

// SecretBox encrypts secrets that the service must read back (webhook
// signing secrets) for storage, and decrypts them.
type SecretBox interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}
