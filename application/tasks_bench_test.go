package application

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// pageStore serves one fixed page of ten tasks.
type pageStore struct {
	ports.TaskStore
	page ports.TaskPage
}

func (s pageStore) List(context.Context, domain.OrgID, ports.TaskFilter) (ports.TaskPage, error) {
	return s.page, nil
}

// memCache is the smallest ports.ListCache: one generation, no expiry.
type memCache map[string][]byte

func (m memCache) Generations(context.Context, domain.OrgID) (ports.Generations, error) {
	return ports.Generations{}, nil
}
func (m memCache) Get(_ context.Context, _ domain.OrgID, _ ports.CacheSpace, _ uint64, key string) ([]byte, error) {
	return m[key], nil
}
func (m memCache) Set(_ context.Context, _ domain.OrgID, _ ports.CacheSpace, _ uint64, key string, v []byte) error {
	m[key] = v
	return nil
}
func (m memCache) Invalidate(context.Context, domain.OrgID, ports.CacheSpace) error { return nil }

// jsonTasks encodes with encoding/json, as the HTTP adapter does.
type jsonTasks struct{}

func (jsonTasks) Format() string                         { return "json" }
func (jsonTasks) Tasks(ts []domain.Task) ([]byte, error) { return json.Marshal(ts) }
func (jsonTasks) Task(t *domain.Task) ([]byte, error)    { return json.Marshal(t) }

func tenTasks() ports.TaskPage {
	p := ports.TaskPage{HasMore: true}
	now := time.Date(2026, 11, 28, 6, 56, 9, 664000000, time.UTC)
	for i := range 10 {
		p.Tasks = append(p.Tasks, domain.Task{ID: domain.TaskID(100 - i), OrgID: 1, Title: "Launch product", Description: "a task",
			Status: domain.StatusCreated, CreatedBy: 1, CreatedAt: now, UpdatedAt: now, Version: 1})
	}
	return p
}

// BenchmarkTasks_List_CacheHit is the cached GET /tasks as the use case
// sees it, up to the bytes the HTTP adapter sends.
func BenchmarkTasks_List_CacheHit(b *testing.B) {
	cache := NewOrgCache(memCache{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tasks := NewTasks(nil, pageStore{page: tenTasks()}, cache, fixedClock{}, jsonRep{})
	actor := domain.Actor{OrgID: 1, UserID: 1, Role: domain.RoleAdmin}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l, err := tasks.List(ctx, actor, ListQuery{}, jsonTasks{})
		if err != nil || len(l.Body) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkPageTag is the cost a list's ETag adds to a cache miss (a
// store read): once per page read, never on a cache hit.
func BenchmarkPageTag(b *testing.B) {
	for _, n := range []int{10, 100} {
		page := ports.TaskPage{}
		for i := range n {
			page.Tasks = append(page.Tasks, tenTasks().Tasks[i%10])
		}
		body, _ := json.Marshal(page.Tasks)
		b.Run(strconv.Itoa(n)+"_tasks_"+strconv.Itoa(len(body))+"B", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if pageTag(1, "json1", "s=&a=&l=10&o=0&b=", "djE6OTE", body) == "" {
					b.Fatal("empty tag")
				}
			}
		})
	}
}

// verifiedTokens accepts one token, as the JWT adapter does once it has
// verified it (its verified-token cache).
type verifiedTokens struct{ Tokens }

func (verifiedTokens) Verify(string) (ports.TokenClaims, error) {
	return ports.TokenClaims{UserID: 1, OrgID: 1, Role: domain.RoleAdmin, SessionID: 1}, nil
}

type liveSession struct{ ports.SessionStore }

func (liveSession) Principal(context.Context, domain.OrgID, domain.UserID, domain.SessionID, time.Time) (*domain.User, error) {
	return &domain.User{ID: 1, OrgID: 1, Role: domain.RoleAdmin}, nil
}

// BenchmarkAuth_Authenticate_CacheHit is the session check of a request
// whose token and session check are both cached: what every authenticated
// request pays in the use case.
func BenchmarkAuth_Authenticate_CacheHit(b *testing.B) {
	cache := NewOrgCache(memCache{}, slog.New(slog.DiscardHandler))
	a, err := NewAuth(nil, ports.Stores{Sessions: liveSession{}}, costHasher{cost: "10"}, verifiedTokens{}, fixedClock{}, nil, cache,
		time.Hour, slog.New(slog.DiscardHandler), jsonRep{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if actor, err := a.Authenticate(ctx, "token"); err != nil || actor.Role != domain.RoleAdmin {
			b.Fatal(actor, err)
		}
	}
}
