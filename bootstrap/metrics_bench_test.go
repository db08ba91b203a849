package bootstrap_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/adapters/metrics"
)

// BenchmarkMiddleware_Metrics measures what the request metrics add to a
// request through the whole middleware chain and router (no network):
// compare metrics=off with metrics=on, in ns/op and allocs/op.
func BenchmarkMiddleware_Metrics(b *testing.B) {
	for _, bc := range []struct {
		name string
		m    httpadapter.Metrics
	}{
		{"metrics=off", nil},
		{"metrics=on", metrics.New()},
	} {
		h := httpadapter.NewServer(nil, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler), httpadapter.Options{
			BodyLimit: 1 << 20, RequestTimeout: time.Second, Metrics: bc.m,
		}).App().Handler()
		for _, path := range []string{"/health", "/no/such/route"} {
			b.Run(bc.name+path, func(b *testing.B) {
				var ctx fasthttp.RequestCtx
				b.ReportAllocs()
				for b.Loop() {
					ctx.Request.Reset()
					ctx.Response.Reset()
					ctx.ResetUserValues() // else each request's context derives from the last one's
					ctx.Request.Header.SetMethod(fasthttp.MethodGet)
					ctx.Request.SetRequestURI(path)
					h(&ctx)
				}
			})
		}
	}
}
