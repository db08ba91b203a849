package bootstrap

import "github.com/valyala/fasthttp"

// Handler is the server's request handler, for benchmarks that drive one
// request through the whole app with no network.
func (s *Server) Handler() fasthttp.RequestHandler { return s.app.Handler() }
