package http

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
)

// apiCSP fits JSON answers: nothing in them may load or run anything, nor
// be framed.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// docsCSP is the docs page's: its scripts, styles and images come from
// this server only (Swagger UI needs inline styles and data: images), and
// it talks to this API only.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// securityHeaders sets the headers every answer carries, before the
// handler runs so that error answers carry them too.
func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders is also called by the error handler, which answers
// some errors (an oversized header block, say) before any middleware ran.
// The names are given in canonical form and the values as bytes, made
// once: Set would copy and normalize both on every request
// (BenchmarkSecurityHeaders).
func setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	for _, kv := range securityHeaderValues {
		h.SetCanonical(kv[0], kv[1])
	}
	if p := c.Path(); p == "/docs" || strings.HasPrefix(p, "/docs/") {
		h.SetCanonical(headerCSP, docsCSPBytes)
	} else {
		h.SetCanonical(headerCSP, apiCSPBytes)
	}
}

var (
	securityHeaderValues = [][2][]byte{
		{[]byte(fiber.HeaderXContentTypeOptions), []byte("nosniff")},
		{[]byte(fiber.HeaderReferrerPolicy), []byte("no-referrer")},
		{[]byte(fiber.HeaderXFrameOptions), []byte("DENY")},
	}
	headerCSP    = []byte(fiber.HeaderContentSecurityPolicy)
	apiCSPBytes  = []byte(apiCSP)
	docsCSPBytes = []byte(docsCSP)
)

// corsFor allows cross-origin browser calls from the listed origins only;
// with none listed (the default) no CORS header is ever sent and browsers
// keep other sites out. Tokens travel in the Authorization header, never
// in cookies, so credentials are not allowed.
func corsFor(origins []string) fiber.Handler {
	if len(origins) == 0 {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return cors.New(cors.Config{
		AllowOrigins:  strings.Join(origins, ","),
		AllowMethods:  "GET,POST,PUT,PATCH,DELETE,OPTIONS",
		AllowHeaders:  "Authorization,Content-Type,If-Match,If-None-Match,X-Request-ID",
		ExposeHeaders: "ETag,Link,Location,X-Request-ID,Retry-After,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset",
		MaxAge:        600,
	})
}
