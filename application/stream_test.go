package application_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// logEvents is an in-memory event log: per organization, ids in order.
type logEvents struct {
	ports.EventStore // Purge is not used here
	mu               sync.Mutex
	events           map[domain.OrgID][]domain.Event
	lists            atomic.Int64
}

func newLogEvents() *logEvents { return &logEvents{events: map[domain.OrgID][]domain.Event{}} }

func (l *logEvents) Append(_ context.Context, e *domain.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID = int64(len(l.events[e.OrgID]) + 1)
	l.events[e.OrgID] = append(l.events[e.OrgID], *e)
	return nil
}

func (l *logEvents) List(_ context.Context, org domain.OrgID, f ports.EventFilter) ([]domain.Event, error) {
	l.lists.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []domain.Event
	for _, e := range l.events[org] {
		if e.ID > f.After && (len(f.Types) == 0 || e.Type.MatchesAny(f.Types)) && len(out) < f.Limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *logEvents) Last(_ context.Context, org domain.OrgID) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.events[org])), nil
}

// localNotifier delivers in process, unless deaf.
type localNotifier struct {
	mu   sync.Mutex
	fns  []func(domain.OrgID, int64)
	deaf bool
}

func (n *localNotifier) Publish(_ context.Context, org domain.OrgID, last int64) error {
	n.mu.Lock()
	fns := slices.Clone(n.fns)
	deaf := n.deaf
	n.mu.Unlock()
	if !deaf {
		for _, fn := range fns {
			fn(org, last)
		}
	}
	return nil
}

func (n *localNotifier) Listen(ctx context.Context, fn func(domain.OrgID, int64)) error {
	n.mu.Lock()
	n.fns = append(n.fns, fn)
	n.mu.Unlock()
	<-ctx.Done()
	return nil
}

// countSlots is a plain per-process count.
type countSlots struct {
	mu   sync.Mutex
	held map[string]bool
}

func (c *countSlots) Acquire(_ context.Context, _ domain.OrgID, h string, limit int, _ time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = map[string]bool{}
	}
	if !c.held[h] && len(c.held) >= limit {
		return false, nil
	}
	c.held[h] = true
	return true, nil
}
func (c *countSlots) Renew(context.Context, domain.OrgID, string, time.Duration) error { return nil }
func (c *countSlots) Release(_ context.Context, _ domain.OrgID, h string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.held, h)
	return nil
}

// tokens authenticates "token-<n>" as whatever actors[n] holds now; an
// absent one is unauthenticated.
type tokens struct {
	mu     sync.Mutex
	actors map[string]domain.Actor
}

func (a *tokens) Authenticate(_ context.Context, token string) (domain.Actor, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	act, ok := a.actors[token]
	if !ok {
		return domain.Actor{}, domain.ErrUnauthenticated
	}
	return act, nil
}

func (a *tokens) set(token string, act *domain.Actor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if act == nil {
		delete(a.actors, token)
		return
	}
	a.actors[token] = *act
}

// frames collects what a stream sends.
type frames struct {
	mu     sync.Mutex
	ids    []int64
	types  []domain.EventType
	pings  int
	failAt int // fail the Nth event write (0: never)
}

func (f *frames) Event(e *domain.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAt > 0 && len(f.ids)+1 >= f.failAt {
		return io.ErrClosedPipe
	}
	f.ids = append(f.ids, e.ID)
	f.types = append(f.types, e.Type)
	return nil
}

func (f *frames) Ping() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	return nil
}

func (f *frames) got() ([]int64, []domain.EventType, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids), slices.Clone(f.types), f.pings
}

type feedRig struct {
	events *logEvents
	notify *localNotifier
	auth   *tokens
	pub    *application.Publisher
	s      *application.Streams
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func newFeedRig(t *testing.T, opts application.StreamOptions) *feedRig {
	t.Helper()
	r := &feedRig{events: newLogEvents(), notify: &localNotifier{}, auth: &tokens{actors: map[string]domain.Actor{}}}
	r.pub = application.NewPublisher(r.notify, nil, quietLog)
	r.s = application.NewStreams(r.events, r.auth, r.notify, nil, &countSlots{}, opts, quietLog)
	ctx := context.Background()
	if err := r.pub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.s.Stop(ctx)
		_ = r.pub.Stop(ctx)
	})
	return r
}

// write appends an event of typ to org and publishes it, as a committed
// write does.
func (r *feedRig) write(org domain.OrgID, typ domain.EventType) int64 {
	e := &domain.Event{OrgID: org, Type: typ, Subject: domain.EventSubject{Type: "task", ID: 1}}
	_ = r.events.Append(context.Background(), e)
	r.pub.Committed(org, e.ID)
	return e.ID
}

func (r *feedRig) member(org domain.OrgID, user domain.UserID, role domain.Role) (string, domain.Actor) {
	tok := "token-" + string(role) + "-" + time.Now().Format("150405.000000000")
	act := domain.Actor{OrgID: org, UserID: user, Role: role, SessionID: 1}
	r.auth.set(tok, &act)
	return tok, act
}

// run runs st in the background; the returned channel gets Run's error.
func run(st *application.Stream, sink application.StreamSink) <-chan error {
	done := make(chan error, 1)
	go func() { done <- st.Run(sink) }()
	return done
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fast() application.StreamOptions {
	return application.StreamOptions{MaxPerOrg: 10, Heartbeat: time.Hour, Recheck: time.Hour, Poll: time.Hour, Buffer: 256}
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// The promise of resuming: opened after event k while writes go on, a
// stream sends k+1, k+2, ... each exactly once, in order, whatever falls
// between the replay from the table and the live part.
func TestStreams_ResumeWhileWritingLosesAndRepeatsNothing(t *testing.T) {
	for _, buffer := range []int{256, 1} { // 1: the stream lags and catches up from the table
		r := newFeedRig(t, application.StreamOptions{MaxPerOrg: 50, Heartbeat: time.Hour, Recheck: time.Hour,
			Poll: time.Hour, Buffer: buffer})
		tok, act := r.member(1, 1, domain.RoleAdmin)
		for range 50 {
			r.write(1, domain.EventTaskCreated)
		}
		const total = 2000
		writing := make(chan struct{})
		go func() {
			defer close(writing)
			for range total - 50 {
				r.write(1, domain.EventTaskUpdated)
			}
		}()
		var sinks []*frames
		var afters []int64
		for i := range 20 {
			after := int64(i * 2) // at most the 50 written before
			st, err := r.s.Open(context.Background(), tok, act, after)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			f := &frames{}
			run(st, f)
			sinks, afters = append(sinks, f), append(afters, after)
		}
		<-writing
		for i, f := range sinks {
			waitUntil(t, "every stream reaches the last event", func() bool {
				ids, _, _ := f.got()
				return len(ids) > 0 && ids[len(ids)-1] == total
			})
			ids, _, _ := f.got()
			if want := seq(afters[i]+1, total); !slices.Equal(ids, want) {
				t.Fatalf("buffer %d, stream after %d: got %d ids (first %v), want %d..%d exactly once in order",
					buffer, afters[i], len(ids), ids[:min(5, len(ids))], afters[i]+1, total)
			}
		}
	}
}

func TestStreams_AUserSeesTaskEventsOnlyAnAdminAll(t *testing.T) {
	r := newFeedRig(t, fast())
	userTok, user := r.member(1, 2, domain.RoleUser)
	adminTok, admin := r.member(1, 1, domain.RoleAdmin)
	su, _ := r.s.Open(context.Background(), userTok, user, 0)
	sa, _ := r.s.Open(context.Background(), adminTok, admin, 0)
	fu, fa := &frames{}, &frames{}
	run(su, fu)
	run(sa, fa)
	types := []domain.EventType{domain.EventTaskCreated, domain.EventMemberJoined, domain.EventInviteCreated,
		domain.EventTaskStatusChanged, domain.EventMemberRoleChanged, domain.EventTaskDeleted}
	for _, typ := range types {
		r.write(1, typ)
	}
	waitUntil(t, "the admin gets all six", func() bool { ids, _, _ := fa.got(); return len(ids) == 6 })
	waitUntil(t, "the user gets the three task events", func() bool { ids, _, _ := fu.got(); return len(ids) == 3 })
	ids, got, _ := fu.got()
	if !slices.Equal(ids, []int64{1, 4, 6}) ||
		!slices.Equal(got, []domain.EventType{domain.EventTaskCreated, domain.EventTaskStatusChanged, domain.EventTaskDeleted}) {
		t.Fatalf("user got %v %v", ids, got)
	}
	// Nothing more comes to the user later: a seventh, a task event, is
	// the next it sees.
	r.write(1, domain.EventTaskUpdated)
	waitUntil(t, "the user gets the seventh", func() bool { ids, _, _ := fu.got(); return len(ids) == 4 })
	if ids, _, _ := fu.got(); ids[3] != 7 {
		t.Fatalf("user's fourth frame is %d, want 7", ids[3])
	}
}

func TestStreams_OtherOrganizationsEventsNeverReachAStream(t *testing.T) {
	r := newFeedRig(t, fast())
	tok1, a1 := r.member(1, 1, domain.RoleAdmin)
	tok2, a2 := r.member(2, 5, domain.RoleAdmin)
	s1, _ := r.s.Open(context.Background(), tok1, a1, 0)
	s2, _ := r.s.Open(context.Background(), tok2, a2, 0)
	f1, f2 := &frames{}, &frames{}
	run(s1, f1)
	run(s2, f2)
	for i := range 30 {
		r.write(domain.OrgID(1+i%2), domain.EventTaskCreated)
	}
	waitUntil(t, "both get their 15", func() bool {
		i1, _, _ := f1.got()
		i2, _, _ := f2.got()
		return len(i1) == 15 && len(i2) == 15
	})
	r.write(2, domain.EventTaskCreated)
	waitUntil(t, "org 2 gets one more", func() bool { i2, _, _ := f2.got(); return len(i2) == 16 })
	if i1, _, _ := f1.got(); len(i1) != 15 {
		t.Fatalf("org 1's stream got %d frames, want its own 15", len(i1))
	}
}

// A lost notification costs at most a poll interval, never an event.
func TestStreams_LostNotificationsAreMadeUpByPolling(t *testing.T) {
	r := newFeedRig(t, application.StreamOptions{MaxPerOrg: 10, Heartbeat: time.Hour, Recheck: time.Hour,
		Poll: 50 * time.Millisecond, Buffer: 16})
	r.notify.mu.Lock()
	r.notify.deaf = true
	r.notify.mu.Unlock()
	tok, act := r.member(1, 1, domain.RoleAdmin)
	st, _ := r.s.Open(context.Background(), tok, act, 0)
	f := &frames{}
	run(st, f)
	for range 5 {
		r.write(1, domain.EventTaskCreated)
	}
	waitUntil(t, "the events arrive by polling", func() bool { ids, _, _ := f.got(); return slices.Equal(ids, seq(1, 5)) })
}

// With notifications and no polling, the feed reads only when told: one
// reader per organization, whatever the number of its streams.
func TestStreams_OneReaderPerOrganization(t *testing.T) {
	r := newFeedRig(t, fast())
	tok, act := r.member(1, 1, domain.RoleAdmin)
	var sinks []*frames
	for range 10 {
		st, err := r.s.Open(context.Background(), tok, act, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := &frames{}
		run(st, f)
		sinks = append(sinks, f)
	}
	for _, f := range sinks {
		waitUntil(t, "every stream has replayed (nothing) and pinged", func() bool { _, _, p := f.got(); return p == 1 })
	}
	before := r.events.lists.Load()
	for i := range 20 {
		r.write(1, domain.EventTaskCreated)
		waitUntil(t, "all streams get it", func() bool {
			for _, f := range sinks {
				if ids, _, _ := f.got(); len(ids) != i+1 {
					return false
				}
			}
			return true
		})
	}
	for _, f := range sinks {
		waitUntil(t, "each stream has all 20", func() bool { ids, _, _ := f.got(); return slices.Equal(ids, seq(1, 20)) })
	}
	if reads := r.events.lists.Load() - before; reads > 40 {
		t.Fatalf("%d reads of the log for 20 events and 10 streams, want at most 2 per event (one reader)", reads)
	}
}

func TestStreams_LimitPerOrganization(t *testing.T) {
	opts := fast()
	opts.MaxPerOrg = 2
	r := newFeedRig(t, opts)
	tok, act := r.member(1, 1, domain.RoleAdmin)
	a, err1 := r.s.Open(context.Background(), tok, act, 0)
	_, err2 := r.s.Open(context.Background(), tok, act, 0)
	if err1 != nil || err2 != nil {
		t.Fatalf("Open = %v, %v", err1, err2)
	}
	if _, err := r.s.Open(context.Background(), tok, act, 0); !errors.Is(err, application.ErrTooManyStreams) {
		t.Fatalf("third Open = %v, want ErrTooManyStreams", err)
	}
	a.Close()
	if _, err := r.s.Open(context.Background(), tok, act, 0); err != nil {
		t.Fatalf("Open after a Close = %v", err)
	}
}

func TestStreams_ClosedWhenCredentialsEndRoleFollowsChanges(t *testing.T) {
	opts := fast()
	opts.Recheck = 20 * time.Millisecond
	r := newFeedRig(t, opts)
	tok, act := r.member(1, 1, domain.RoleAdmin)
	st, _ := r.s.Open(context.Background(), tok, act, 0)
	f := &frames{}
	done := run(st, f)

	demoted := act
	demoted.Role = domain.RoleUser
	r.auth.set(tok, &demoted)
	// Once the demotion is seen, member events stop; a marker task event
	// after each member event shows when one would have arrived.
	waitUntil(t, "the demotion applies", func() bool {
		r.write(1, domain.EventMemberJoined)
		r.write(1, domain.EventTaskCreated)
		time.Sleep(30 * time.Millisecond)
		_, types, _ := f.got()
		n := len(types)
		return n >= 2 && types[n-1] == domain.EventTaskCreated && types[n-2] == domain.EventTaskCreated
	})

	r.auth.set(tok, nil) // logged out, key deleted, member removed
	select {
	case err := <-done:
		if !errors.Is(err, application.ErrStreamRevoked) {
			t.Fatalf("Run = %v, want ErrStreamRevoked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its credentials by 10 s")
	}
	// Its slot is free again.
	if n := r.s.OpenStreams(); n != 0 {
		t.Fatalf("%d streams open after the only one ended", n)
	}
}

func TestStreams_ShutdownClosesStreamsAndRefusesNew(t *testing.T) {
	r := newFeedRig(t, fast())
	tok, act := r.member(1, 1, domain.RoleUser)
	st, _ := r.s.Open(context.Background(), tok, act, 0)
	done := run(st, &frames{})
	r.s.CloseAll()
	select {
	case err := <-done:
		if !errors.Is(err, application.ErrStreamShutdown) {
			t.Fatalf("Run = %v, want ErrStreamShutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream was not closed")
	}
	if _, err := r.s.Open(context.Background(), tok, act, 0); !errors.Is(err, application.ErrStreamsClosed) {
		t.Fatalf("Open while shutting down = %v, want ErrStreamsClosed", err)
	}
}

func TestStreams_AClientThatGoesEndsItsStream(t *testing.T) {
	opts := fast()
	opts.MaxPerOrg = 1
	r := newFeedRig(t, opts)
	tok, act := r.member(1, 1, domain.RoleAdmin)
	st, _ := r.s.Open(context.Background(), tok, act, 0)
	done := run(st, &frames{failAt: 1})
	r.write(1, domain.EventTaskCreated)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run = nil, want the sink's error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
	}
	if _, err := r.s.Open(context.Background(), tok, act, 0); err != nil {
		t.Fatalf("the gone client's slot is still taken: %v", err)
	}
}

func TestStreams_HeartbeatAndCursorBeyondTheEnd(t *testing.T) {
	opts := fast()
	opts.Heartbeat = 10 * time.Millisecond
	r := newFeedRig(t, opts)
	tok, act := r.member(1, 1, domain.RoleAdmin)
	r.write(1, domain.EventTaskCreated)
	st, err := r.s.Open(context.Background(), tok, act, 999)
	if err != nil {
		t.Fatal(err)
	}
	f := &frames{}
	run(st, f)
	waitUntil(t, "pings", func() bool { _, _, p := f.got(); return p >= 3 })
	r.write(1, domain.EventTaskCreated)
	waitUntil(t, "the next event after the real last", func() bool { ids, _, _ := f.got(); return slices.Equal(ids, []int64{2}) })
	if _, err := r.s.Open(context.Background(), tok, act, -1); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("Open(after -1) = %v, want invalid", err)
	}
}

// Only committed events are announced, each once committed.
func TestPublishCommitted_AnnouncesAfterCommitOnly(t *testing.T) {
	events := newLogEvents()
	n := &localNotifier{}
	heard := map[domain.OrgID]int64{}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = n.Listen(ctx, func(org domain.OrgID, last int64) {
			mu.Lock()
			heard[org] = max(heard[org], last)
			mu.Unlock()
		})
	}()
	waitUntil(t, "listening", func() bool { n.mu.Lock(); defer n.mu.Unlock(); return len(n.fns) == 1 })
	pub := application.NewPublisher(n, nil, quietLog)
	_ = pub.Start(context.Background())
	tx := &fakeTx{stores: ports.Stores{Events: events}}
	wtx, stores := application.PublishCommitted(tx, ports.Stores{Events: events}, pub)

	failed := errors.New("rolled back")
	err := wtx.InTx(context.Background(), func(s ports.Stores) error {
		_ = s.Events.Append(context.Background(), &domain.Event{OrgID: 9, Type: domain.EventTaskCreated})
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatal(err)
	}
	if err := wtx.InTx(context.Background(), func(s ports.Stores) error {
		return s.Events.Append(context.Background(), &domain.Event{OrgID: 1, Type: domain.EventTaskCreated})
	}); err != nil {
		t.Fatal(err)
	}
	if err := stores.Events.Append(context.Background(), &domain.Event{OrgID: 1, Type: domain.EventTaskCreated}); err != nil {
		t.Fatal(err)
	}
	// Stop publishes whatever is pending.
	if err := pub.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if heard[1] != 2 {
		t.Fatalf("heard org 1 up to %d, want 2 (one event committed in a transaction, one on its own)", heard[1])
	}
	if _, ok := heard[9]; ok {
		t.Fatal("the rolled-back event was announced")
	}
}

// fakeTx runs fn on its stores and "rolls back" an event log fake by
// removing what fn appended when fn fails.
type fakeTx struct{ stores ports.Stores }

func (f *fakeTx) InTx(ctx context.Context, fn func(ports.Stores) error) error {
	l := f.stores.Events.(*logEvents)
	l.mu.Lock()
	snapshot := map[domain.OrgID]int{}
	for org, es := range l.events {
		snapshot[org] = len(es)
	}
	l.mu.Unlock()
	err := fn(f.stores)
	if err != nil {
		l.mu.Lock()
		for org := range l.events {
			l.events[org] = l.events[org][:snapshot[org]]
		}
		l.mu.Unlock()
	}
	return err
}
