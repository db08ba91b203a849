package http

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// codePatterns find the places a problem code is written in the code
// base: a domain.Error or problem literal (Code: "..."), and the error
// handler's own assignments (p.Code = "...", and p.Status, p.Code, ... =
// status, "...").
var codePatterns = []*regexp.Regexp{
	regexp.MustCompile(`\bCode:\s*"([a-z_]+)"`),
	regexp.MustCompile(`\bp\.Code\s*=\s*"([a-z_]+)"`),
	regexp.MustCompile(`\bp\.Status, p\.Code(?:, p\.Detail)? = [^,\n]+, "([a-z_]+)"`),
}

// emittedCodes is every code the server can answer with: those written in
// the non-test Go files of the module, and those the error handler gives
// the errors Fiber raises itself.
func emittedCodes(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..")
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range codePatterns {
			for _, m := range re.FindAllSubmatch(src, -1) {
				seen[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codeOfStatus {
		seen[code] = true
	}
	var codes []string
	for c := range seen {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

// TestProblemPages_EveryCodeTheServerEmitsHasAPage: a code added anywhere
// in the code base without a page here fails, and so does a page for a
// code nothing emits any more.
func TestProblemPages_EveryCodeTheServerEmitsHasAPage(t *testing.T) {
	codes := emittedCodes(t)
	// The scan must see the codes written in each of its three forms, or
	// it would pass by finding nothing.
	for _, c := range []string{"task_not_found", "validation_failed", "not_ready", "rate_limited", "bad_request", "timeout", "internal", "headers_too_large"} {
		if !slices.Contains(codes, c) {
			t.Fatalf("the scan of the code base did not find %q; found %v", c, codes)
		}
	}
	var paged []string
	for _, p := range problemPages {
		paged = append(paged, p.Code)
		if p.About == "" || p.Status < 400 {
			t.Errorf("page %q: status %d, description %q", p.Code, p.Status, p.About)
		}
	}
	slices.Sort(paged)
	for _, c := range codes {
		if !slices.Contains(paged, c) {
			t.Errorf("the server can answer with code %q, which has no page in problemPages", c)
		}
	}
	for _, c := range paged {
		if !slices.Contains(codes, c) {
			t.Errorf("problemPages explains %q, which nothing in the code base emits", c)
		}
	}
	if len(slices.Compact(slices.Clone(paged))) != len(paged) {
		t.Errorf("a code has two pages: %v", paged)
	}
}

// TestProblemPages_EachTypeAnswers200: GET on a problem's type is 200 with
// JSON naming the code, or HTML for a browser; an unknown code is 404.
func TestProblemPages_EachTypeAnswers200(t *testing.T) {
	app := routesApp(t)
	for _, p := range problemPages {
		req := httptest.NewRequest("GET", "/problems/"+problemTypeSegment(p.Code), nil)
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got problemPage
		if resp.StatusCode != 200 || json.Unmarshal(raw, &got) != nil || got.Code != p.Code || got.Status != p.Status ||
			got.Title != titleOf(p.Code) || got.About != p.About {
			t.Errorf("GET /problems/%s = %d %s", problemTypeSegment(p.Code), resp.StatusCode, raw)
		}
	}

	req := httptest.NewRequest("GET", "/problems/invalid-status-transition", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(raw), "<h1>Invalid status transition</h1>") || !strings.Contains(string(raw), "COMPLETED") {
		t.Errorf("HTML page: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}

	for _, path := range []string{"/problems/no-such-code", "/problems/task_not_found", "/problems/"} {
		if got := ask(t, app, "GET", path); got.status != 404 || got.code != "not_found" {
			t.Errorf("GET %s = %d %q, want 404 not_found", path, got.status, got.code)
		}
	}
}
