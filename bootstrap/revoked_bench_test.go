package bootstrap_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// countingSessions counts the session checks (Principal) that reach the
// store: a refused token's cost is mostly that query.
type countingSessions struct {
	ports.SessionStore
	principals *atomic.Int64
}

func (s countingSessions) Principal(ctx context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID,
	now time.Time) (*domain.User, error) {
	s.principals.Add(1)
	return s.SessionStore.Principal(ctx, org, user, id, now)
}

// countPrincipals rebuilds the Auth use case, as ApplicationModule does,
// over a session store that counts its Principal calls into n. (The
// stores themselves are decorated already, by publishCommitted, and fx
// allows one decoration per type.)
func countPrincipals(n *atomic.Int64) fx.Option {
	return fx.Decorate(func(_ *application.Auth, tx ports.Transactor, s ports.Stores, h ports.PasswordHasher, t application.Tokens,
		clock ports.Clock, codes ports.CodeGenerator, c *application.OrgCache, cfg *config.Config, log *slog.Logger,
		rep application.Representer) (*application.Auth, error) {
		s.Sessions = countingSessions{SessionStore: s.Sessions, principals: n}
		return application.NewAuth(tx, s, h, t, clock, codes, c, cfg.RefreshTTL, log, rep)
	})
}

// BenchmarkAuth_RevokedToken is the cost of refusing a well-signed token
// whose session was logged out: Authenticate as a request's middleware
// calls it (real JWT, real store, real cache), on the embedded default
// (SQLite, memory cache) and on Postgres with Redis. It reports the
// session queries each refusal makes (queries/op).
//
//	CI=true go test ./bootstrap -run '^$' -bench BenchmarkAuth_RevokedToken
func BenchmarkAuth_RevokedToken(b *testing.B) {
	for _, c := range []struct {
		name, backend string
		database      func(testing.TB) string
	}{
		{"sqlite+memory", "memory", func(testing.TB) string { return "" }},
		{"postgres+redis", "redis", newDatabaseTB},
	} {
		b.Run(c.name, func(b *testing.B) {
			var queries atomic.Int64
			var auth *application.Auth
			a := startServer(b, testConfig(b, c.backend, c.database(b)), countPrincipals(&queries), fx.Populate(&auth))
			tn := a.newTenant(b)
			a.expect(b, http.StatusNoContent, "", "POST", "/logout", tn.Admin.Token, nil)
			ctx := context.Background()
			queries.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				// A fresh snapshot per call, as each request has.
				if _, err := auth.Authenticate(application.WithCacheSnapshot(ctx), tn.Admin.Token); !errors.Is(err, domain.ErrUnauthenticated) {
					b.Fatalf("Authenticate of a logged-out token: %v, want ErrUnauthenticated", err)
				}
			}
			b.ReportMetric(float64(queries.Load())/float64(b.N), "queries/op")
		})
	}
}
