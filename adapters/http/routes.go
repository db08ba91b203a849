package http

import (
	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/domain"
)

// routes is the whole API surface: public routes first, then those that
// need a bearer token (auth) and an ADMIN (adminOnly). The writes that a
// client may retry with an Idempotency-Key name s.idempotent; their
// handlers store the answer with the resource (receiptFor).
func (s *Server) routes(app *fiber.App) {
	app.Get("/", s.root)
	app.Get("/health", s.health)
	app.Get("/ready", s.ready)
	app.Get("/openapi.json", s.openapi)
	app.Get("/docs", s.docsIndex)
	app.Get("/docs/*", s.docsAsset)
	app.Get("/problems/:code", s.problemDoc)

	app.Post("/organizations", s.limit.byIP("organizations"), s.createOrganization)
	app.Post("/signup", s.limit.byIP("signup"), s.signup)
	app.Post("/login", s.limit.byIP("login"), s.login)
	app.Post("/token/refresh", s.limit.byIP("refresh"), s.refresh)

	// Authenticated routes name the middleware one by one (not a group on
	// "/"), so an unknown path is a 404, not a 401.
	auth := []fiber.Handler{authenticate(s.auth), s.limit.byOrg}
	app.Get("/me", with(auth, s.me)...)
	app.Post("/me/password", with(auth, s.changePassword)...)
	app.Post("/logout", with(auth, s.logout)...)
	app.Get("/users", with(auth, s.listUsers)...)
	app.Patch("/users/:id", with(auth, adminOnly, s.setRole)...)
	app.Delete("/users/:id", with(auth, adminOnly, s.removeUser)...)
	app.Post("/invites", with(auth, adminOnly, s.idempotent, s.createInvite)...)
	app.Get("/invites", with(auth, adminOnly, s.listInvites)...)
	app.Delete("/invites/:id", with(auth, adminOnly, s.revokeInvite)...)

	app.Post("/api-keys", with(auth, s.idempotent, s.createAPIKey)...)
	app.Get("/api-keys", with(auth, s.listAPIKeys)...)
	app.Delete("/api-keys/:id", with(auth, s.deleteAPIKey)...)

	app.Post("/webhooks", with(auth, adminOnly, s.idempotent, s.createWebhook)...)
	app.Get("/webhooks", with(auth, adminOnly, s.listWebhooks)...)
	app.Get("/webhooks/:id", with(auth, adminOnly, s.getWebhook)...)
	app.Patch("/webhooks/:id", with(auth, adminOnly, s.patchWebhook)...)
	app.Delete("/webhooks/:id", with(auth, adminOnly, s.deleteWebhook)...)
	app.Get("/webhooks/:id/deliveries", with(auth, adminOnly, s.webhookDeliveries)...)
	app.Post("/webhooks/:id/ping", with(auth, adminOnly, s.pingWebhook)...)
	app.Post("/webhooks/:id/rotate-secret", with(auth, adminOnly, s.rotateWebhookSecret)...)
	app.Get("/events/stream", with(auth, s.eventStream)...)

	app.Get("/tasks", with(auth, s.listTasks)...)
	app.Post("/tasks", with(auth, adminOnly, s.idempotent, s.createTask)...)
	app.Get("/tasks/:id", with(auth, s.getTask)...)
	// No adminOnly on PATCH and PUT: a task's assignee may move it, which
	// only the use case can tell, from the task as stored.
	app.Patch("/tasks/:id", with(auth, s.patchTask)...)
	app.Put("/tasks/:id", with(auth, s.putTaskStatus)...)
	app.Delete("/tasks/:id", with(auth, adminOnly, s.deleteTask)...)
	app.Get("/tasks/:id/events", with(auth, s.taskEvents)...)

	app.Get("/events", with(auth, adminOnly, s.listEvents)...)

	app.Use(s.noRoute)
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

// with lists a route's handlers: the shared ones first, then its own.
func with(shared []fiber.Handler, own ...fiber.Handler) []fiber.Handler {
	return append(append([]fiber.Handler(nil), shared...), own...)
}
