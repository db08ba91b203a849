// Package http is TaskFlow's HTTP adapter on Fiber v2: routes.go lists the
// whole API surface; handlers decode and validate requests at the edge,
// call the application use cases with c.UserContext(), and encode DTOs.
// errors.go is the only place an HTTP status is chosen for an error. It may
// import application, ports and domain, never another adapter.
package http
