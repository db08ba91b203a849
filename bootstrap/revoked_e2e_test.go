package bootstrap_test

import (
	"net/http"
	"sync/atomic"
	"testing"
)

// TestAPI_RevokedToken_CostsOneSessionQuery: after a logout, a flood of
// requests with the old token is refused (401, the same problem as any
// other refused token) at the cost of one session query in all, on two
// replicas sharing Postgres and Redis, and on the embedded default (one
// process, SQLite, memory cache). A replica holding the refusal sees the
// next invalidation made by the other, as it sees a logout.
func TestAPI_RevokedToken_CostsOneSessionQuery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, backend string
		replicas      int
		database      func(*testing.T) string
	}{
		{"redis", "redis", 2, newDatabase},
		{"sqlite", "memory", 1, func(*testing.T) string { return "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, c.backend, c.database(t))
			var queries [2]atomic.Int64
			replicas := []*api{startServer(t, cfg, countPrincipals(&queries[0]))}
			if c.replicas == 2 {
				cfg2 := *cfg // same key: tokens work on both
				replicas = append(replicas, startServer(t, &cfg2, countPrincipals(&queries[1])))
			}
			total := func() int64 { return queries[0].Load() + queries[1].Load() }
			s1, s2 := replicas[0], replicas[len(replicas)-1]

			tn := s1.newTenant(t)
			p := s1.loginPair(t, tn.Admin.Email, password)
			for _, r := range replicas {
				r.expect(t, http.StatusOK, "", "GET", "/me", p.Access, nil) // each caches the live session
			}
			// What any refused token gets: a well-signed one is no different.
			want := s1.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", "not-a-token", nil).problem(t)
			s1.expect(t, http.StatusNoContent, "", "POST", "/logout", p.Access, nil)

			before := total()
			const n = 30
			for i := range n {
				r := replicas[i%len(replicas)]
				got := r.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", p.Access, nil).problem(t)
				if got.Type != want.Type || got.Title != want.Title || got.Code != want.Code || got.Detail != want.Detail {
					t.Fatalf("request %d: problem %+v, want the one of any refused token %+v", i, got, want)
				}
			}
			if q := total() - before; q > 1 {
				t.Fatalf("%d requests with a logged-out token made %d session queries, want at most 1", n, q)
			}

			// Another session of the org ends, through the first replica:
			// the other drops what it held for the org, the refusal
			// included, and asks the store once more.
			other := s1.loginPair(t, tn.Admin.Email, password)
			s2.expect(t, http.StatusOK, "", "GET", "/me", other.Access, nil)
			s1.expect(t, http.StatusNoContent, "", "POST", "/logout", other.Access, nil)
			before = total()
			for range 5 {
				s2.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", p.Access, nil)
				s2.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", other.Access, nil)
			}
			if q := total() - before; q != 2 {
				t.Fatalf("after the invalidation, two refused tokens made %d session queries on the other replica, want 2 (one each)", q)
			}
			// A new session of the same member is not refused.
			s2.expect(t, http.StatusOK, "", "GET", "/me", s1.loginPair(t, tn.Admin.Email, password).Access, nil)
		})
	}
}
