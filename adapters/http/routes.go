package http

import (
	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/domain"
)

// routes is the whole API surface. Public routes first; everything after
// the authenticate middleware needs a bearer token.
func (s *Server) routes(app *fiber.App) {
	app.Get("/", s.root)
	app.Get("/health", s.health)
	app.Get("/ready", s.ready)
	app.Get("/openapi.json", s.openapi)
	app.Get("/docs", s.docsIndex)
	app.Get("/docs/*", s.docsAsset)

	app.Post("/organizations", s.createOrganization)
	app.Post("/signup", s.signup)
	app.Post("/login", s.login)

	authed := app.Group("", authenticate(s.auth))
	authed.Get("/me", s.me)
	authed.Get("/users", s.listUsers)
	authed.Patch("/users/:id", adminOnly, s.setRole)
	authed.Delete("/users/:id", adminOnly, s.removeUser)
	authed.Post("/invites", adminOnly, s.createInvite)

	authed.Get("/tasks", s.listTasks)
	authed.Post("/tasks", adminOnly, s.createTask)
	authed.Get("/tasks/:id", s.getTask)
	authed.Patch("/tasks/:id", adminOnly, s.patchTask)
	authed.Put("/tasks/:id", adminOnly, s.putTaskStatus)
	authed.Delete("/tasks/:id", adminOnly, s.deleteTask)

	app.Use(s.notFound)
}

// adminOnly answers 403 before the body is read: a USER learns nothing
// about what an ADMIN action would have accepted. The use cases check the
// role again; this only puts the refusal first.
func adminOnly(c *fiber.Ctx) error {
	if !actorOf(c).IsAdmin() {
		return domain.ErrForbidden
	}
	return c.Next()
}
