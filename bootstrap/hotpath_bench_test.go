package bootstrap_test

import (
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/bootstrap"
)

// BenchmarkCachedHit measures one cached read through the whole service,
// in process (no network): the full fx app on the embedded SQLite store,
// with the memory or the Redis cache (the local Redis), its access log at
// warn as the load benchmark runs it, and the request the load benchmark
// sends: GET /tasks?limit=10 (cached_list) and GET /tasks/{id} (get_task)
// with an access token, both warm in the cache. What it costs is the
// middleware, the session check and the cache lookups: see
// NOTES-hotpath.md.
func BenchmarkCachedHit(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		cfg := testConfig(b, backend, "")
		cfg.LogLevel = "warn"
		var srv *bootstrap.Server
		a := startServer(b, cfg, fx.Populate(&srv))
		tn := a.newTenant(b)
		var id int64
		for i := range 12 { // a page of 10 with a next link
			id = a.newTask(b, tn.Admin.Token, "task "+strconv.Itoa(i)).ID
		}
		h := srv.Handler()
		for _, rc := range []struct{ name, uri string }{
			{"list", "/tasks?limit=10"},
			{"get", "/tasks/" + strconv.FormatInt(id, 10)},
		} {
			b.Run(rc.name+"/"+backend, func(b *testing.B) {
				var ctx fasthttp.RequestCtx
				bearer := "Bearer " + tn.Admin.Token
				do := func() {
					ctx.Request.Reset()
					ctx.Response.Reset()
					ctx.ResetUserValues()
					ctx.Request.Header.SetMethod(fasthttp.MethodGet)
					ctx.Request.SetRequestURI(rc.uri)
					ctx.Request.Header.Set("Authorization", bearer)
					h(&ctx)
					if ctx.Response.StatusCode() != fasthttp.StatusOK {
						b.Fatalf("GET %s: %d %s", rc.uri, ctx.Response.StatusCode(), ctx.Response.Body())
					}
				}
				do() // warm: the first read fills the cache
				b.ReportAllocs()
				for b.Loop() {
					do()
				}
			})
		}
	}
}
