package http

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// routesApp is the real route table around no use cases: a request that
// reaches a handler would panic, and none of these does.
func routesApp(t *testing.T) *fiber.App {
	t.Helper()
	s := NewServer(nil, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler),
		Options{BodyLimit: 1 << 20, RequestTimeout: time.Second})
	return s.App()
}

type routeAnswer struct {
	status int
	allow  []string
	ctype  string
	code   string
}

func ask(t *testing.T, app *fiber.App, method, path string) routeAnswer {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(method, path, nil), -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p problem
	_ = json.Unmarshal(raw, &p)
	a := routeAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), code: p.Code}
	if allow := resp.Header.Get("Allow"); allow != "" {
		for _, m := range strings.Split(allow, ",") {
			a.allow = append(a.allow, strings.TrimSpace(m))
		}
		slices.Sort(a.allow)
	}
	return a
}

// TestRoutes_MethodNotServedIs405WithAllow: a path that exists answers a
// method it does not serve with 405 problem+json and Allow naming what it
// does serve; an OPTIONS to it is 204 with the same Allow; a path that
// does not exist stays 404 whatever the method.
func TestRoutes_MethodNotServedIs405WithAllow(t *testing.T) {
	app := routesApp(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"DELETE", "/me", 405, "GET, HEAD, OPTIONS"},
		{"TRACE", "/me", 405, "GET, HEAD, OPTIONS"},
		{"PUT", "/users", 405, "GET, HEAD, OPTIONS"},
		{"GET", "/users/7", 405, "DELETE, OPTIONS, PATCH"},
		{"PATCH", "/tasks", 405, "GET, HEAD, OPTIONS, POST"},
		{"POST", "/tasks/7", 405, "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"},
		{"GET", "/login", 405, "OPTIONS, POST"},
		{"OPTIONS", "/me", 204, "GET, HEAD, OPTIONS"},
		{"OPTIONS", "/tasks/7", 204, "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"},
		{"GET", "/nope", 404, ""},
		{"DELETE", "/nope", 404, ""},
		{"OPTIONS", "/nope", 404, ""},
		{"GET", "/tasks/7/comments", 404, ""},
	} {
		t.Run(tc.method+"_"+strings.ReplaceAll(strings.Trim(tc.path, "/"), "/", "_"), func(t *testing.T) {
			got := ask(t, app, tc.method, tc.path)
			if got.status != tc.status || strings.Join(got.allow, ", ") != tc.allow {
				t.Fatalf("%s %s = %d Allow %q; want %d Allow %q", tc.method, tc.path, got.status, got.allow, tc.status, tc.allow)
			}
			want := map[int]string{405: "method_not_allowed", 404: "not_found"}[tc.status]
			if want != "" && (got.code != want || !strings.HasPrefix(got.ctype, problemJSON)) {
				t.Errorf("%s %s: code %q Content-Type %q; want %q problem+json", tc.method, tc.path, got.code, got.ctype, want)
			}
		})
	}
}

// TestRoutes_EveryRouteAnswers405ForEveryOtherMethod walks the app's own
// route table, so a route added to routes.go is covered without touching
// this test: for each path, every method it does not serve is a 405 whose
// Allow is exactly the methods it does serve, plus OPTIONS.
func TestRoutes_EveryRouteAnswers405ForEveryOtherMethod(t *testing.T) {
	app := routesApp(t)
	served := map[string][]string{} // concrete path -> methods
	for _, r := range app.GetRoutes(true) {
		path := strings.NewReplacer(":id", "7", "*", "swagger-ui.css").Replace(r.Path)
		if !slices.Contains(served[path], r.Method) {
			served[path] = append(served[path], r.Method)
		}
	}
	if len(served) < 10 {
		t.Fatalf("found only %d routed paths: %v", len(served), served)
	}
	for path, methods := range served {
		allow := append(slices.Clone(methods), fiber.MethodOptions)
		slices.Sort(allow)
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE"} {
			if slices.Contains(methods, m) {
				continue
			}
			got := ask(t, app, m, path)
			if got.status != fiber.StatusMethodNotAllowed || !slices.Equal(got.allow, allow) {
				t.Errorf("%s %s = %d Allow %q; want 405 Allow %q", m, path, got.status, got.allow, allow)
			}
		}
	}
}
