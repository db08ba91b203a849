// Package storetest is the contract suite of the store ports (OrgStore,
// UserStore, InviteStore, TaskStore, SessionStore, IdempotencyStore,
// APIKeyStore, EventStore, Transactor, and the lookups before the tenant
// is known): what any implementation
// must do, written once and run by each database's own tests
// (adapters/postgres and adapters/sqlite, over adapters/sqlstore), the
// same cases for both. It imports the domain, the ports and the standard
// library only, never an implementation.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Run runs the whole suite. newStores is called once per subtest and
// returns stores and a transactor over one migrated, reachable database;
// subtests run in parallel and share it, each in organizations of its own.
func Run(t *testing.T, newStores func(t *testing.T) (ports.Stores, ports.Transactor)) {
	for _, group := range []struct {
		name  string
		tests []test
	}{
		{"Orgs", orgTests},
		{"Users", userTests},
		{"Passwords", passwordTests},
		{"Invites", inviteTests},
		{"Tasks", taskTests},
		{"TaskDetails", taskDetailTests},
		{"TaskFilters", taskFilterTests},
		{"TaskSorts", taskSortTests},
		{"TaskSearch", taskSearchTests},
		{"Transactor", transactorTests},
		{"Sessions", sessionTests},
		{"Idempotency", idempotencyTests},
		{"APIKeys", apiKeyTests},
		{"Events", eventTests},
		{"Webhooks", webhookTests},
		{"Lookups", lookupTests},
	} {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range group.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s, tx := newStores(t)
					tc.run(t, &fixture{t: t, ctx: t.Context(), s: s, tx: tx})
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// t0 has nanoseconds and a zone on purpose: stores keep UTC microseconds,
// and what Create leaves in the entity must equal what Get reads back.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("UTC+1", 3600))

// runID keeps emails and code hashes unique even when the suite runs
// twice against one database.
var (
	runID = randomHex(4)
	seq   atomic.Int64
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func unique(prefix string) string {
	return fmt.Sprintf("%s%d-%s", prefix, seq.Add(1), runID)
}

// absent is an id that no row has.
const absent = 1 << 50

type fixture struct {
	t   *testing.T
	ctx context.Context
	s   ports.Stores
	tx  ports.Transactor
}

func (f *fixture) org() *domain.Organization {
	f.t.Helper()
	o, err := domain.NewOrganization(unique("org"), t0)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Orgs.Create(f.ctx, o); err != nil {
		f.t.Fatalf("create organization: %v", err)
	}
	return o
}

func (f *fixture) user(org domain.OrgID, role domain.Role) *domain.User {
	f.t.Helper()
	u := newUser(org, role)
	if err := f.s.Users.Create(f.ctx, u); err != nil {
		f.t.Fatalf("create user: %v", err)
	}
	return u
}

func newUser(org domain.OrgID, role domain.Role) *domain.User {
	return &domain.User{OrgID: org, Email: unique("user") + "@example.com",
		PasswordHash: "$2a$10$hash", Role: role, CreatedAt: t0}
}

func (f *fixture) task(org domain.OrgID, by domain.UserID, assignee *domain.UserID) *domain.Task {
	f.t.Helper()
	tk := newTask(f.t, org, by, assignee)
	if err := f.s.Tasks.Create(f.ctx, tk); err != nil {
		f.t.Fatalf("create task: %v", err)
	}
	return tk
}

func newTask(t *testing.T, org domain.OrgID, by domain.UserID, assignee *domain.UserID) *domain.Task {
	t.Helper()
	tk, err := domain.NewTask(org, by, unique("task "), "some description", assignee, t0)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// orgWithAdmin is the usual start: an organization and its first ADMIN.
func (f *fixture) orgWithAdmin() (*domain.Organization, *domain.User) {
	f.t.Helper()
	o := f.org()
	return o, f.user(o.ID, domain.RoleAdmin)
}

func (f *fixture) getTask(org domain.OrgID, id domain.TaskID) *domain.Task {
	f.t.Helper()
	got, err := f.s.Tasks.Get(f.ctx, org, id)
	if err != nil {
		f.t.Fatalf("get task: %v", err)
	}
	return got
}

func (f *fixture) getUser(org domain.OrgID, id domain.UserID) *domain.User {
	f.t.Helper()
	got, err := f.s.Users.Get(f.ctx, org, id)
	if err != nil {
		f.t.Fatalf("get user: %v", err)
	}
	return got
}

// errOf and errOf2 keep the error of a call's results.
func errOf[A any](_ A, err error) error { return err }

func errOf2[A, B any](_ A, _ B, err error) error { return err }

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ptr[T any](v T) *T { return &v }

// race runs fn n times at once (as far as the scheduler allows) and
// returns each call's error.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func (f *fixture) countAdmins(org domain.OrgID) int {
	f.t.Helper()
	users, err := f.s.Users.List(f.ctx, org)
	wantNoErr(f.t, "list users", err)
	n := 0
	for _, u := range users {
		if u.Role == domain.RoleAdmin {
			n++
		}
	}
	return n
}
