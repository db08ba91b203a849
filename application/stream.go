package application

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// The live feed (GET /events/stream).
//
// Per replica, one reader per organization with open streams (a feed)
// reads the events table after the last id it has read and hands each new
// event to every local stream of the organization. It reads when a
// notification says there is something to read (ports.Notifier: Postgres
// NOTIFY, Redis pub/sub or in process, published after each commit), and
// also every Poll while it has streams, since a notification can be lost
// (a replica dying between its commit and its publish, a reconnecting
// listener): a lost one costs at most Poll of latency, never an event.
//
// A stream is registered with its feed before it replays the table after
// its cursor (Last-Event-ID), and from then on keeps its cursor: an event
// the feed hands it at or below the cursor was replayed already and is
// dropped. Event ids follow commit order within an organization, so
// reading "after the last id" never misses an event committed later with
// a lower id, and no event falls between the replay and the live part:
// whatever the feed read before the stream registered was committed
// before the replay read the table.

// StreamOptions tune the live feed.
type StreamOptions struct {
	// MaxPerOrg bounds an organization's open streams (STREAM_MAX_PER_ORG),
	// across the replicas that share the slots.
	MaxPerOrg int
	// Heartbeat spaces the ": ping" comments (at most 15 s).
	Heartbeat time.Duration
	// Recheck spaces the re-authentications of a stream's token: a stream
	// whose token expired, or whose session, key or membership ended, is
	// closed within about this long.
	Recheck time.Duration
	// Poll spaces the feed's reads of the table when no notification
	// comes; it bounds the latency when one is lost.
	Poll time.Duration
	// Buffer is how many events a stream may fall behind its feed before
	// it catches up from the table instead.
	Buffer int
}

// DefaultStreamOptions are the production values.
func DefaultStreamOptions() StreamOptions {
	return StreamOptions{MaxPerOrg: 100, Heartbeat: 15 * time.Second, Recheck: 5 * time.Second,
		Poll: 500 * time.Millisecond, Buffer: 256}
}

// Authenticator resolves a bearer token to its caller as stored now (Auth).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (domain.Actor, error)
}

// ErrTooManyStreams: the organization holds STREAM_MAX_PER_ORG open
// streams already.
var ErrTooManyStreams = &domain.Error{Kind: domain.KindConflict, Code: "too_many_streams",
	Message: "your organization has as many open event streams as it may; close one, or retry later"}

// ErrStreamsClosed: the replica is shutting down and opens no stream.
var ErrStreamsClosed = &domain.Error{Kind: domain.KindUnavailable, Code: "unavailable",
	Message: "this instance is shutting down; reconnect with Last-Event-ID"}

// Why a stream ended.
var (
	// ErrStreamRevoked: the token expired, or its session, key or
	// membership ended.
	ErrStreamRevoked = errors.New("stream closed: its credentials no longer hold")
	// ErrStreamShutdown: the replica is shutting down.
	ErrStreamShutdown = errors.New("stream closed: shutting down")
)

// StreamSink receives what a stream sends: its client's connection. An
// error (the client has gone) ends the stream.
type StreamSink interface {
	Event(e *domain.Event) error
	Ping() error
}

// Streams is the live feed use case: it opens streams, and runs the
// per-organization readers that feed them.
type Streams struct {
	events   ports.EventStore
	auth     Authenticator
	notifier ports.Notifier
	slots    ports.StreamSlots // shared by the replicas, or nil
	local    ports.StreamSlots // this replica's own count, always
	opts     StreamOptions
	log      *slog.Logger

	mu      sync.Mutex
	feeds   map[domain.OrgID]*feed
	streams map[*Stream]struct{}
	closed  bool

	stop    context.CancelFunc
	stopped chan struct{}
}

// NewStreams builds the use case. shared counts streams across replicas
// (nil: per replica only); local counts this replica's own, and stands in
// when shared cannot be reached.
func NewStreams(events ports.EventStore, auth Authenticator, notifier ports.Notifier, shared, local ports.StreamSlots,
	opts StreamOptions, log *slog.Logger) *Streams {
	d := DefaultStreamOptions()
	if opts.MaxPerOrg <= 0 {
		opts.MaxPerOrg = d.MaxPerOrg
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = d.Heartbeat
	}
	if opts.Recheck <= 0 {
		opts.Recheck = d.Recheck
	}
	if opts.Poll <= 0 {
		opts.Poll = d.Poll
	}
	if opts.Buffer <= 0 {
		opts.Buffer = d.Buffer
	}
	return &Streams{events: events, auth: auth, notifier: notifier, slots: shared, local: local, opts: opts, log: log,
		feeds: map[domain.OrgID]*feed{}, streams: map[*Stream]struct{}{}}
}

// Start listens for notifications until Stop.
func (s *Streams) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.stopped = cancel, make(chan struct{})
	go func() {
		defer close(s.stopped)
		for ctx.Err() == nil {
			err := s.notifier.Listen(ctx, s.notified)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("event notifications: cannot listen; streams rely on polling", "err", err.Error())
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
		}
	}()
	return nil
}

// Stop closes every stream and stops listening.
func (s *Streams) Stop(ctx context.Context) error {
	s.CloseAll()
	if s.stop == nil {
		return nil
	}
	s.stop()
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseAll closes every open stream and refuses new ones: the replica is
// shutting down, and its clients reconnect (elsewhere) with Last-Event-ID.
func (s *Streams) CloseAll() {
	s.mu.Lock()
	s.closed = true
	all := make([]*Stream, 0, len(s.streams))
	for st := range s.streams {
		all = append(all, st)
	}
	s.mu.Unlock()
	for _, st := range all {
		st.end(ErrStreamShutdown)
	}
}

// Open counts a stream of actor's organization against the limit and
// registers it with the organization's feed, at cursor after (the last
// event id the client has seen; 0 for none). token is what actor
// authenticated with: the stream checks it again every Recheck. The
// caller must Run or Close the stream.
func (s *Streams) Open(ctx context.Context, token string, actor domain.Actor, after int64) (*Stream, error) {
	if after < 0 {
		return nil, domain.Invalid(domain.FieldError{Field: "after", Message: "must be an event id (0 or more)"})
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrStreamsClosed
	}
	st := &Stream{s: s, org: actor.OrgID, token: token, holder: newHolder(), cursor: after,
		events: make(chan domain.Event, s.opts.Buffer), poke: make(chan struct{}, 1), done: make(chan struct{})}
	st.role.Store(string(actor.Role))
	if err := s.acquire(ctx, st); err != nil {
		return nil, err
	}
	last, err := s.events.Last(ctx, actor.OrgID)
	if err != nil {
		s.release(st)
		return nil, fmt.Errorf("open stream: %w", err)
	}
	// A cursor past the organization's last event (a client of another
	// installation, a database restored from a backup) would wait in
	// silence for ids to catch up: it starts from the last event instead.
	st.cursor = min(st.cursor, last)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.release(st)
		return nil, ErrStreamsClosed
	}
	f := s.feeds[actor.OrgID]
	if f == nil {
		f = &feed{s: s, org: actor.OrgID, last: last, subs: map[*Stream]struct{}{},
			wake: make(chan struct{}, 1), quit: make(chan struct{})}
		s.feeds[actor.OrgID] = f
		go f.run()
	}
	f.add(st)
	st.feed = f
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	return st, nil
}

// leaseTTL is how long a slot outlives its last renewal: a replica that
// dies frees its streams' slots within it.
func (s *Streams) leaseTTL() time.Duration { return 3*s.opts.Recheck + 5*time.Second }

func (s *Streams) acquire(ctx context.Context, st *Stream) error {
	ok, err := s.local.Acquire(ctx, st.org, st.holder, s.opts.MaxPerOrg, s.leaseTTL())
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	if !ok {
		return ErrTooManyStreams
	}
	if s.slots == nil {
		return nil
	}
	ok, err = s.slots.Acquire(ctx, st.org, st.holder, s.opts.MaxPerOrg, s.leaseTTL())
	switch {
	case err != nil:
		// The shared count is away (Redis down): this replica's own
		// count, taken above, still bounds the streams.
		s.log.Warn("stream slots unreachable: limiting streams per replica", "err", err.Error())
		return nil
	case !ok:
		_ = s.local.Release(ctx, st.org, st.holder)
		return ErrTooManyStreams
	}
	return nil
}

func (s *Streams) release(st *Stream) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.local.Release(ctx, st.org, st.holder)
	if s.slots != nil {
		if err := s.slots.Release(ctx, st.org, st.holder); err != nil {
			s.log.Warn("stream slots: release failed; the lease will run out", "err", err.Error())
		}
	}
}

// renew runs in the stream's goroutine, between frames: a shared count
// that does not answer (a frozen Redis) holds the stream up at most
// renewTimeout per Recheck, and the lease, three Rechecks long, survives a
// few failed renewals.
func (s *Streams) renew(st *Stream) {
	ctx, cancel := context.WithTimeout(context.Background(), renewTimeout)
	defer cancel()
	_ = s.local.Renew(ctx, st.org, st.holder, s.leaseTTL())
	if s.slots != nil {
		if err := s.slots.Renew(ctx, st.org, st.holder, s.leaseTTL()); err != nil {
			s.log.Warn("stream slots: renew failed", "err", err.Error())
		}
	}
}

const renewTimeout = 300 * time.Millisecond

// forget takes st off its feed; the feed stops with its last stream.
func (s *Streams) forget(st *Stream) {
	s.mu.Lock()
	delete(s.streams, st)
	f := st.feed
	if f != nil && f.remove(st) == 0 && s.feeds[f.org] == f {
		delete(s.feeds, f.org)
		close(f.quit)
	}
	s.mu.Unlock()
}

// notified wakes the feed of org, if this replica has one and it has not
// read that far; org 0 wakes them all.
func (s *Streams) notified(org domain.OrgID, last int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if org == 0 {
		for _, f := range s.feeds {
			f.kick()
		}
		return
	}
	if f := s.feeds[org]; f != nil && last > f.read() {
		f.kick()
	}
}

// Heartbeat is the interval of a stream's pings.
func (s *Streams) Heartbeat() time.Duration { return s.opts.Heartbeat }

// OpenStreams counts this replica's open streams.
func (s *Streams) OpenStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// feedPage is how many events a feed or a catching-up stream reads at once.
const feedPage = 100

// feed is one organization's reader on this replica.
type feed struct {
	s    *Streams
	org  domain.OrgID
	wake chan struct{}
	quit chan struct{}

	mu   sync.Mutex
	last int64 // the last event id handed to the streams
	subs map[*Stream]struct{}
}

func (f *feed) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) read() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *feed) add(st *Stream) {
	f.mu.Lock()
	f.subs[st] = struct{}{}
	f.mu.Unlock()
}

func (f *feed) remove(st *Stream) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, st)
	return len(f.subs)
}

func (f *feed) run() {
	poll := time.NewTicker(f.s.opts.Poll)
	defer poll.Stop()
	failing := false
	for {
		select {
		case <-f.quit:
			return
		case <-f.wake:
		case <-poll.C:
		}
		err := f.readNew()
		switch {
		case err != nil && !failing:
			f.s.log.Warn("event stream: reading events failed; retrying", "organization_id", int64(f.org), "err", err.Error())
			failing = true
		case err == nil && failing:
			f.s.log.Info("event stream: reading events again", "organization_id", int64(f.org))
			failing = false
		}
	}
}

// readNew hands every event after f.last to the streams. f.last moves
// with the handing out, under the lock a new stream registers under.
func (f *feed) readNew() error {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		page, err := f.s.events.List(ctx, f.org, ports.EventFilter{After: f.read(), Limit: feedPage})
		cancel()
		if err != nil {
			return err
		}
		f.mu.Lock()
		for i := range page {
			if page[i].ID <= f.last {
				continue
			}
			for st := range f.subs {
				st.offer(page[i])
			}
			f.last = page[i].ID
		}
		f.mu.Unlock()
		if len(page) < feedPage {
			return nil
		}
	}
}

// Stream is one client's live feed.
type Stream struct {
	s      *Streams
	feed   *feed
	org    domain.OrgID
	token  string
	holder string
	role   atomic.Value // string: domain.Role, as last checked

	// cursor is the last event id the client has seen or skipped; only
	// Run's goroutine touches it after Open.
	cursor int64
	events chan domain.Event
	lagged atomic.Bool   // an event was dropped: catch up from the table
	poke   chan struct{} // wakes Run after a drop

	once    sync.Once
	done    chan struct{}
	reason  error
	started atomic.Bool // Run has begun, or Close has freed the stream
}

func newHolder() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// offer hands e to the stream without ever blocking its feed: a stream
// too far behind is told to catch up from the table instead.
func (st *Stream) offer(e domain.Event) {
	select {
	case st.events <- e:
	default:
		st.lagged.Store(true)
		select {
		case st.poke <- struct{}{}:
		default:
		}
	}
}

// end closes the stream for reason (the first reason given wins).
func (st *Stream) end(reason error) {
	st.once.Do(func() {
		st.reason = reason
		close(st.done)
	})
}

// Close ends the stream: Run returns, or, for a stream that never ran,
// its slot and registration are freed here.
func (st *Stream) Close() {
	st.end(nil)
	if st.started.CompareAndSwap(false, true) {
		st.s.forget(st)
		st.s.release(st)
	}
}

// visible reports whether the stream's caller may see e: a USER sees
// task events only.
func (st *Stream) visible(e *domain.Event) bool {
	if domain.Role(st.role.Load().(string)) == domain.RoleAdmin {
		return true
	}
	return e.Type.MatchesPattern("task.*")
}

// send writes e unless the client has seen it or may not see it.
func (st *Stream) send(sink StreamSink, e *domain.Event) error {
	if e.ID <= st.cursor {
		return nil
	}
	st.cursor = e.ID
	if !st.visible(e) {
		return nil
	}
	return sink.Event(e)
}

// catchUp sends every event after the cursor, from the table.
func (st *Stream) catchUp(sink StreamSink) error {
	for {
		select {
		case <-st.done:
			return st.reason
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		page, err := st.s.events.List(ctx, st.org, ports.EventFilter{After: st.cursor, Limit: feedPage})
		cancel()
		if err != nil {
			return fmt.Errorf("stream catch-up: %w", err)
		}
		for i := range page {
			if err := st.send(sink, &page[i]); err != nil {
				return err
			}
		}
		if len(page) < feedPage {
			return nil
		}
	}
}

// Run sends the stream to sink until the client goes (sink fails), its
// credentials end (ErrStreamRevoked), the replica shuts down
// (ErrStreamShutdown) or Close is called (nil). It replays the events
// after the cursor from the table first, then sends each new event as the
// feed reads it; every Heartbeat without an event it pings. The slot is
// freed when it returns.
func (st *Stream) Run(sink StreamSink) (err error) {
	if !st.started.CompareAndSwap(false, true) {
		return st.reason // closed before it ran
	}
	defer func() {
		st.end(err)
		st.s.forget(st)
		st.s.release(st)
	}()
	// The first bytes put the answer's headers on the wire.
	if err := sink.Ping(); err != nil {
		return err
	}
	if err := st.catchUp(sink); err != nil {
		return err
	}
	heartbeat := time.NewTicker(st.s.opts.Heartbeat)
	defer heartbeat.Stop()
	recheck := time.NewTicker(st.s.opts.Recheck)
	defer recheck.Stop()
	for {
		select {
		case <-st.done:
			return st.reason
		case e := <-st.events:
			if st.lagged.Swap(false) {
				if err := st.catchUp(sink); err != nil {
					return err
				}
			}
			if err := st.send(sink, &e); err != nil {
				return err
			}
			continue // an event is as good as a ping
		case <-st.poke:
			if st.lagged.Swap(false) {
				if err := st.catchUp(sink); err != nil {
					return err
				}
			}
			continue
		case <-heartbeat.C:
			if err := sink.Ping(); err != nil {
				return err
			}
		case <-recheck.C:
			if err := st.check(); err != nil {
				return err
			}
		}
	}
}

// check authenticates the stream's token again, through the same session
// check (and its cache) as every request: an expired token, an ended
// session, a deleted key or a removed member ends the stream; a changed
// role changes what it shows. An outage of the store does not end it.
func (st *Stream) check() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	actor, err := st.s.auth.Authenticate(ctx, st.token)
	switch {
	case err == nil && actor.OrgID == st.org:
		st.role.Store(string(actor.Role))
		st.s.renew(st)
		return nil
	case err == nil, domain.KindOf(err) == domain.KindUnauthorized:
		return ErrStreamRevoked
	default:
		st.s.log.Warn("event stream: cannot check its credentials now", "organization_id", int64(st.org), "err", err.Error())
		st.s.renew(st)
		return nil
	}
}
