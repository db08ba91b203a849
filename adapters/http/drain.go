package http

import (
	"github.com/gofiber/fiber/v2"
)

// Drain marks the server as stopping. From then on /ready answers 503, so
// that a load balancer takes this instance out of rotation, and every
// answer carries Connection: close, so that a keep-alive client opens its
// next connection afresh (to another instance, once the balancer has
// moved). Without it the final shutdown closes idle keep-alive
// connections under clients that have just sent a request on one, and
// those requests get a reset instead of an answer.
//
// Live event streams are closed at once (clients reconnect with
// Last-Event-ID, through the balancer, to another replica): they would
// otherwise hold the final shutdown for SHUTDOWN_TIMEOUT. A stream asked
// for during the drain is told to retry (eventStream).
//
// The caller keeps serving for a while after Drain (SHUTDOWN_DRAIN), then
// shuts the server down.
func (s *Server) Drain() {
	s.draining.Store(true)
	if s.streams != nil {
		s.streams.CloseAll()
	}
}

// closeWhileDraining is the outermost middleware: it marks the answer
// Connection: close once Drain has been called, also for a request that
// began before. It looks after the rest of the chain, so that nothing
// can take the header off again.
func (s *Server) closeWhileDraining(c *fiber.Ctx) error {
	err := c.Next()
	if s.draining.Load() {
		c.Response().Header.SetConnectionClose()
	}
	return err
}

// notReadyWhileDraining answers /ready for a draining server: it is up,
// but must get no new traffic.
func (s *Server) notReadyWhileDraining(c *fiber.Ctx) error {
	return writeProblem(c, problem{Type: "/problems/not-ready", Title: "Not ready", Status: fiber.StatusServiceUnavailable,
		Detail: "shutting down: this instance is draining its connections and takes no new traffic",
		Code:   "not_ready", RequestID: requestID(c)})
}
