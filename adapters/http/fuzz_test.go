package http

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// edgeApp is the real middleware and error handler around handlers that
// only decode, so that fuzzing reaches the edge without a store.
func edgeApp(t testing.TB) *fiber.App {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	handle := errorHandler(log)
	app := fiber.New(fiber.Config{ErrorHandler: handle, BodyLimit: 1 << 20, DisableStartupMessage: true})
	app.Use(observe(log, handle, nil, nil, nil), securityHeaders, limitBody(1<<16), recoverPanics(log))
	decodeInto := func(newDst func() any) fiber.Handler {
		return func(c *fiber.Ctx) error {
			if err := decodeJSON(c, newDst()); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		}
	}
	app.Post("/organizations", decodeInto(func() any { return &orgCreateRequest{} }))
	app.Post("/signup", decodeInto(func() any { return &signupRequest{} }))
	app.Post("/invites", decodeInto(func() any { return &inviteCreateRequest{} }))
	app.Post("/tasks", decodeInto(func() any { return &taskCreateRequest{} }))
	app.Patch("/tasks", decodeInto(func() any { return &taskPatchRequest{} }))
	app.Put("/tasks", decodeInto(func() any { return &statusUpdateRequest{} }))
	app.Get("/tasks", func(c *fiber.Ctx) error {
		if _, err := parseListQuery(c); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
	return app
}

// checkAnswer fails on a 5xx, and on an error that is not problem+json.
func checkAnswer(t *testing.T, app *fiber.App, method, target, ctype, body string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://x"+target, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s %q -> %d %s", method, target, body, resp.StatusCode, b)
	}
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), problemJSON) {
		t.Fatalf("%s %s %q -> %d with Content-Type %q", method, target, body, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// FuzzDecodeJSON: no request body, whatever its bytes or content type,
// makes the edge answer 5xx or panic.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"title":"Launch"}`, `{"title":5}`, `{"title":"x","organization_id":2}`, `[1]`, `{"title":"x"} x`,
		`{"assignee_id":null}`, `{"assignee_id":1e400}`, `{"status":null}`, `{"title":"\u0000"}`, ``, `null`, ` null `, `[]`, `1`, `"x"`, `true`,
		`{"email":"a@b.co","password":"secure123","invite_code":"x","role":"ADMIN","organization_id":-1}`,
		`{"title":{"nested":[1,2,{"x":null}]}}`, `{"title":"` + strings.Repeat("é", 300) + `"}`, "\xff\xfe",
	} {
		f.Add(seed, "application/json")
	}
	f.Add(`{"title":"x"}`, "text/plain")
	f.Add(`{"title":"x"}`, "application/json; charset=utf-8")
	f.Add(`{"title":"x"}`, "application/merge-patch+json")
	app := edgeApp(f)
	paths := []struct{ method, path string }{
		{"POST", "/organizations"}, {"POST", "/signup"}, {"POST", "/invites"},
		{"POST", "/tasks"}, {"PATCH", "/tasks"}, {"PUT", "/tasks"},
	}
	f.Fuzz(func(t *testing.T, body, ctype string) {
		for _, p := range paths {
			checkAnswer(t, app, p.method, p.path, ctype, body)
		}
	})
}

// FuzzListQuery: no query string makes GET /tasks's parsing answer 5xx.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		"", "limit=10", "limit=0", "limit=101", "limit=-1", "limit=1e3", "page=0", "page=99999999999999999999",
		"status=DONE", "status=CREATED&status=COMPLETED", "cursor=djE6MTA", "cursor=%00", "cursor=&page=2",
		"assignee_id=abc", "assignee_id=9223372036854775808", "organization_id=2", "limit=%zz", "a=b&&&=c",
		"assignee_id=me", "assignee_id=none", "assignee_id=Me", "priority=URGENT", "priority=%00", "label=Release",
		"label=%20%20", "label=%C3%A9t%C3%A9", "label=%ff%fe", "due_before=2030-01-01T00:00:00Z",
		"due_after=2030-01-01T00:00:00%2B14:00", "due_before=0000-01-01T00:00:00Z", "due_after=9999-12-31T23:59:59.999999999-23:59",
		"due_before=2030-02-30T00:00:00Z", "assignee_id=none&priority=LOW&label=x&due_after=2030-01-01T00:00:00Z&cursor=djE6MTA",
		"q=release", "q=release+notes", "q=", "q=%20", "q=%21%21", "q=a%00b", "q=%ff%fe", "q=%22a%22+OR+b*",
		"q=%27a%27+%26+%21b+%7C+c%3A*", "q=%C3%A9t%C3%A9", "q=a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p+q", "q=a&q=b",
		"q=x&sort=-priority&label=y&cursor=djE6MTA",
	} {
		f.Add(seed)
	}
	app := edgeApp(f)
	f.Fuzz(func(t *testing.T, query string) {
		if _, err := url.ParseRequestURI("/tasks?" + query); err != nil || strings.ContainsAny(query, " #") {
			return // not a request target a client could send
		}
		checkAnswer(t, app, "GET", "/tasks?"+query, "", "")
	})
}
