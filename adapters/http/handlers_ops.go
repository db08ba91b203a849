package http

import (
	"context"
	"io/fs"
	"mime"
	"path"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/adapters/http/apidoc"
)

type rootResponse struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Docs    string `json:"docs"`
	Health  string `json:"health"`
	OpenAPI string `json:"openapi"`
}

func (s *Server) root(c *fiber.Ctx) error {
	return c.JSON(rootResponse{Name: "TaskFlow", Version: s.opts.Version, Docs: "/docs", Health: "/health", OpenAPI: "/openapi.json"})
}

func (s *Server) health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// ready probes every dependency with a short deadline and names the ones
// that do not answer.
func (s *Server) ready(c *fiber.Ctx) error {
	if s.draining.Load() {
		return s.notReadyWhileDraining(c)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	checks := make(map[string]string, len(s.checks))
	var failing []string
	for _, ch := range s.checks {
		if err := ch.Ping.Ping(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "dependency", ch.Name, "err", err)
			checks[ch.Name] = "unavailable"
			failing = append(failing, ch.Name)
			continue
		}
		checks[ch.Name] = "ok"
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if len(failing) > 0 {
		detail := "not ready: " + failing[0]
		for _, f := range failing[1:] {
			detail += ", " + f
		}
		return writeProblem(c, problem{Type: "/problems/not-ready", Title: "Not ready", Status: fiber.StatusServiceUnavailable,
			Detail: detail + " unavailable", Code: "not_ready", RequestID: requestID(c), Checks: checks})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}

func (s *Server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(apidoc.OpenAPI)
}

func (s *Server) docsIndex(c *fiber.Ctx) error {
	return s.sendAsset(c, "index.html")
}

func (s *Server) docsAsset(c *fiber.Ctx) error {
	return s.sendAsset(c, c.Params("*"))
}

func (s *Server) sendAsset(c *fiber.Ctx, name string) error {
	clean := path.Clean("/" + name)[1:]
	if clean == "" {
		clean = "index.html"
	}
	b, err := fs.ReadFile(apidoc.Assets(), clean)
	if err != nil {
		return fiber.NewError(fiber.StatusNotFound, "no such document")
	}
	ct := mime.TypeByExtension(path.Ext(clean))
	if ct == "" {
		ct = fiber.MIMEOctetStream
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(b)
}
