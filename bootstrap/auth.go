package bootstrap

import (
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/auth"
	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// AuthModule provides tokens, password hashing, the clock and the code
// generator.
var AuthModule = fx.Module("auth",
	fx.Provide(
		fx.Annotate(func() auth.SystemClock { return auth.SystemClock{} }, fx.As(new(ports.Clock))),
		fx.Annotate(func() auth.RandomCodes { return auth.RandomCodes{} }, fx.As(new(ports.CodeGenerator))),
		fx.Annotate(func(cfg *config.Config, m *metrics.Metrics) *auth.Bcrypt {
			b := auth.NewBcrypt(cfg.BcryptCost)
			m.WatchBcrypt(b.Queued, b.Waited)
			return b
		}, fx.As(new(ports.PasswordHasher))),
		// Tokens name the installation they were issued by (aud), so that
		// installations sharing a SECRET_KEY do not accept each other's.
		fx.Annotate(func(cfg *config.Config, clock ports.Clock, install InstallationID) *auth.JWT {
			return auth.NewJWT([]byte(cfg.SecretKey), string(install), cfg.JWTTTL, clock, []byte(cfg.SecretKeyPrevious))
		}, fx.As(new(application.Tokens))),
	),
)
