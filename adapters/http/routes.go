package http

import (
	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/domain"
)

// routes is the whole API surface: public routes first, then those that
// need a bearer token (auth) and an ADMIN (adminOnly).
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

	// Authenticated routes name the middleware one by one (not a group on
	// "/"), so an unknown path is a 404, not a 401.
	auth := authenticate(s.auth)
	app.Get("/me", auth, s.me)
	app.Get("/users", auth, s.listUsers)
	app.Patch("/users/:id", auth, adminOnly, s.setRole)
	app.Delete("/users/:id", auth, adminOnly, s.removeUser)
	app.Post("/invites", auth, adminOnly, s.createInvite)

	app.Get("/tasks", auth, s.listTasks)
	app.Post("/tasks", auth, adminOnly, s.createTask)
	app.Get("/tasks/:id", auth, s.getTask)
	app.Patch("/tasks/:id", auth, adminOnly, s.patchTask)
	app.Put("/tasks/:id", auth, adminOnly, s.putTaskStatus)
	app.Delete("/tasks/:id", auth, adminOnly, s.deleteTask)

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
