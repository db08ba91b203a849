package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"os"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/telemetry"
	"github.com/taskflow/taskflow/config"
)

// TelemetryModule provides the service's tracing, from the standard
// OTEL_* variables (see telemetry.Setup), and makes every line logged with
// a request's context carry its trace_id. Its stop hook, the last to run,
// flushes the spans still batched to the exporter.
var TelemetryModule = fx.Module("telemetry",
	fx.Provide(newTracing),
)

// TraceExporter, when supplied to New (tests), takes the place of the
// OTEL_* variables: tracing is on, and each span goes to it as it ends.
type TraceExporter struct{ sdktrace.SpanExporter }

type tracingIn struct {
	fx.In
	LC       fx.Lifecycle
	Info     buildInfo
	Exporter *TraceExporter `optional:"true"`
}

func newTracing(in tracingIn) (*telemetry.Tracing, error) {
	var tr *telemetry.Tracing
	var err error
	if in.Exporter != nil {
		tr, err = telemetry.NewWithExporter(context.Background(), in.Exporter.SpanExporter, in.Info.Version)
	} else {
		tr, err = telemetry.Setup(context.Background(), os.Getenv, in.Info.Version)
	}
	if err != nil {
		return nil, err
	}
	// Built before the other adapters (the logger needs it), so this hook
	// runs last: the requests, queries and commands are over by then.
	in.LC.Append(fx.Hook{OnStop: tr.Shutdown})
	return tr, nil
}

// rootLogger is the logger New builds from LOG_LEVEL and LOG_FORMAT, for
// fx's own lines and newServiceLogger.
type rootLogger struct{ *slog.Logger }

// LogOutput, when supplied to New (tests), is where the service's logger
// writes instead of stderr, in the configured format and level.
type LogOutput struct{ io.Writer }

type loggerIn struct {
	fx.In
	Root    rootLogger
	Cfg     *config.Config
	Tracing *telemetry.Tracing
	Output  *LogOutput `optional:"true"`
}

// newServiceLogger is the *slog.Logger every adapter logs with: the root
// one, with tracing on stamping every line logged with a request's
// context with its trace_id and span_id.
func newServiceLogger(in loggerIn) *slog.Logger {
	log := in.Root.Logger
	if in.Output != nil {
		log = NewLogger(in.Cfg, in.Output.Writer)
	}
	tr := in.Tracing
	if !tr.Enabled() {
		return log
	}
	log = slog.New(tr.LogHandler(log.Handler()))
	log.Info("tracing on: exporting spans over OTLP/HTTP (OTEL_* variables)",
		"endpoint", firstSet(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")),
		"sampler", firstSet(os.Getenv("OTEL_TRACES_SAMPLER"), "parentbased_always_on"))
	return log
}

func firstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
