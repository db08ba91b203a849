// Package telemetry is TaskFlow's OpenTelemetry tracing: it reads the
// standard OTEL_* variables, builds the tracer provider and its OTLP/HTTP
// exporter when an endpoint is set, and hands the other adapters what
// they instrument with: the provider (adapters/http's request spans), the
// SQL driver wrapper (otelsql, for the pools of adapters/postgres and
// adapters/sqlite), the Redis client hook (redisotel), a slog handler that
// stamps trace_id and span_id on every line logged with a request's
// context, and Span for anything else worth a span (a webhook delivery).
//
// With no endpoint set (or OTEL_SDK_DISABLED=true, or
// OTEL_TRACES_EXPORTER=none) tracing is off: Setup returns a Tracing whose
// Enabled is false, no SDK provider is built, nothing is wrapped, and the
// other adapters keep their uninstrumented paths (a nil check per
// request). The OpenTelemetry globals are never set, so tests can run
// several instances, traced or not, in one process.
//
// It may import the OpenTelemetry modules, go-redis, the standard library
// and nothing else of TaskFlow; the core never sees it (depguard).
package telemetry
