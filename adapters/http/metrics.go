package http

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Metrics receives what the HTTP layer measures (adapters/metrics
// implements it; bootstrap passes it in Options). Its methods must be
// cheap and safe for concurrent use: they run on every request.
type Metrics interface {
	// RequestStarted is called as a request enters the middleware, and
	// RequestFinished once its answer is final; route is its route
	// template in OpenAPI style (/tasks/{id}), or UnmatchedRoute.
	RequestStarted()
	RequestFinished(method, route string, status int, elapsed time.Duration)
	// RateLimited counts a 429, by limit (login_per_ip, organization...).
	RateLimited(limit string)
}

// UnmatchedRoute is the route label of a request that no route took (a
// 404, a 405, or an answer given by the middleware before routing): raw
// paths never become labels.
const UnmatchedRoute = "unmatched"

// methodLabel is the request's method as a label. c.Method() points into
// fasthttp's buffer, reused by the next request, and a label outlives
// the request: the label is one of these constants instead, "OTHER" for
// a method the API does not know.
func methodLabel(c *fiber.Ctx) string {
	switch c.Method() {
	case fiber.MethodGet:
		return fiber.MethodGet
	case fiber.MethodHead:
		return fiber.MethodHead
	case fiber.MethodPost:
		return fiber.MethodPost
	case fiber.MethodPut:
		return fiber.MethodPut
	case fiber.MethodPatch:
		return fiber.MethodPatch
	case fiber.MethodDelete:
		return fiber.MethodDelete
	case fiber.MethodOptions:
		return fiber.MethodOptions
	}
	return "OTHER"
}

// routeLabels maps each route's Fiber path (/tasks/:id) to its label, the
// OpenAPI template (/tasks/{id}). Built once, after the routes; read-only
// afterwards, so requests read it without a lock.
type routeLabels map[string]string

func newRouteLabels(app *fiber.App) routeLabels {
	labels := routeLabels{}
	for _, r := range app.GetRoutes(true) { // without the middleware
		labels[r.Path] = openAPIPath(r.Path)
	}
	return labels
}

// openAPIPath writes Fiber's :name parameters as OpenAPI's {name}.
func openAPIPath(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

// label is the route label of a request whose chain has run. entry is
// the route that was current when the middleware began: a request still
// on it reached no route; one that noRoute took is marked.
func (l routeLabels) label(c *fiber.Ctx, entry *fiber.Route) string {
	r := c.Route()
	if r == entry || c.Locals(keyNoRoute) != nil {
		return UnmatchedRoute
	}
	if label, ok := l[r.Path]; ok {
		return label
	}
	return UnmatchedRoute
}
