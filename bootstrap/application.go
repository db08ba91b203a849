package bootstrap

import (
	"log/slog"
	"time"

	"go.uber.org/fx"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// ApplicationModule provides the use cases over whatever stores and cache
// the other modules chose.
var ApplicationModule = fx.Module("application",
	fx.Provide(
		func(c ports.ListCache, log *slog.Logger) *application.OrgCache {
			return application.NewOrgCache(c, log)
		},
		// Events carry resources as the API serves them.
		func() application.Representer { return httpadapter.Representation{} },
		func(tx ports.Transactor, s ports.Stores, l *application.OrgCache, clock ports.Clock, rep application.Representer) *application.Tasks {
			return application.NewTasks(tx, s.Tasks, l, clock, rep)
		},
		func(s ports.Stores) *application.Events { return application.NewEvents(s) },
		// A claim's lease outlasts any live request (they end at the
		// request timeout) by a margin for the clocks of two replicas.
		func(s ports.Stores, clock ports.Clock, cfg *config.Config) *application.Idempotency {
			return application.NewIdempotency(s.Idempotency, clock, cfg.RequestTimeout+10*time.Second)
		},
		func(tx ports.Transactor, s ports.Stores, clock ports.Clock, codes ports.CodeGenerator, l *application.OrgCache,
			cfg *config.Config, rep application.Representer) *application.Organizations {
			return application.NewOrganizations(tx, s, clock, codes, l, cfg.InviteTTL, rep)
		},
		func(tx ports.Transactor, s ports.Stores, h ports.PasswordHasher, t application.Tokens, clock ports.Clock,
			codes ports.CodeGenerator, c *application.OrgCache, cfg *config.Config, log *slog.Logger,
			rep application.Representer) (*application.Auth, error) {
			return application.NewAuth(tx, s, h, t, clock, codes, c, cfg.RefreshTTL, log, rep)
		},
	),
)
