package bootstrap_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestSecurityHeaders: every answer, success or error, carries nosniff, a
// referrer policy and a CSP; the docs page gets its own, stricter-than-
// default but workable CSP.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	a := startServer(t, testConfig(t, "memory", newDatabase(t)))
	tn := a.newTenant(t)
	for _, r := range []reply{
		a.do(t, "GET", "/health", "", nil),
		a.do(t, "GET", "/tasks", tn.Admin.Token, nil),
		a.do(t, "GET", "/tasks", "", nil),              // 401
		a.do(t, "POST", "/tasks", tn.Admin.Token, "{"), // 400
		a.undocumented(t, "GET", "/no-such-route"),
	} {
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", r, got)
		}
		if got := r.header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy = %q", r, got)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy = %q", r, csp)
		}
	}
	docs := a.undocumented(t, "GET", "/docs")
	csp := docs.header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("/docs CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("/docs CSP allows inline or eval'd scripts: %q", csp)
	}
}

// TestCORS: no origin is allowed by default; listed origins are, and only
// they.
func TestCORS(t *testing.T) {
	t.Parallel()
	// The preflight's status and headers; its body is closed at once.
	type preflightAnswer struct {
		Header     http.Header
		StatusCode int
	}
	preflight := func(a *api, origin string) preflightAnswer {
		req, _ := http.NewRequest("OPTIONS", a.base+"/tasks", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return preflightAnswer{Header: resp.Header, StatusCode: resp.StatusCode}
	}
	t.Run("none_allowed_by_default", func(t *testing.T) {
		t.Parallel()
		a := startServer(t, testConfig(t, "memory", newDatabase(t)))
		if got := preflight(a, "https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("preflight from an unlisted origin got Access-Control-Allow-Origin %q", got)
		}
		r := a.do(t, "GET", "/health", "", nil, "Origin", "https://evil.example")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("GET from an unlisted origin got Access-Control-Allow-Origin %q", got)
		}
	})
	t.Run("listed_origin_only", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, "memory", newDatabase(t))
		cfg.CORSOrigins = []string{"https://app.example.com"}
		a := startServer(t, cfg)
		resp := preflight(a, "https://app.example.com")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
			t.Fatalf("preflight from the listed origin: Access-Control-Allow-Origin = %q (status %d)", got, resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Credentials"); got == "true" {
			t.Fatal("credentials must not be allowed: tokens travel in headers")
		}
		if got := preflight(a, "https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("unlisted origin allowed: %q", got)
		}
		r := a.do(t, "GET", "/health", "", nil, "Origin", "https://app.example.com")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
			t.Fatalf("simple GET from the listed origin: %q", got)
		}
		if exp := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(exp, "ETag") || !strings.Contains(exp, "Link") {
			t.Fatalf("Access-Control-Expose-Headers = %q", exp)
		}
	})
}
