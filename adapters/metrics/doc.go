// Package metrics is TaskFlow's Prometheus instrumentation: one registry
// per running service (never the global one, so that tests can run many
// instances in one process), the families every other package reports
// into, and the admin handler that serves them with net/http/pprof.
//
// It may import the ports and the domain, the standard library and the
// Prometheus client; no other adapter. The other adapters do not import
// it either: each declares the small interface it reports into (as
// adapters/http does with its Metrics), which *Metrics satisfies, and
// bootstrap hands one to the other. The cache is counted from the outside,
// by a decorator of ports.ListCache (CountCache); the database pool and
// the bcrypt queue are read at scrape time from functions bootstrap
// passes in (WatchDB, WatchBcrypt), so nothing in their hot paths changes.
//
// Adding a family (as webhook deliveries, reported by the application's
// delivery loop): declare it in New beside the others, add a method that
// records one event with precomputed children (no label lookup per call
// where the label values are few and known: WebhookAttempted), declare
// the consumer's interface in ports/ (the application may not import this
// package: ports.WebhookMeter) or in the reporting adapter, and let
// bootstrap pass *Metrics where that interface is wanted. A value read on
// demand (a queue length, the open event streams, the dispatcher's lag)
// is simplest as a GaugeFunc over a function the owner already has: see
// WatchBcrypt, WatchStreams, WatchWebhookLag.
package metrics
