package apidoc_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/taskflow/taskflow/adapters/http/apidoc"
)

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(apidoc.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate openapi.json: %v", err)
	}
	return doc
}

func TestOpenAPI_LoadsAndValidatesAs31(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if doc.Info.Title != "TaskFlow" || doc.Info.Version != "1.0.0" {
		t.Errorf("info = %q %q, want TaskFlow 1.0.0", doc.Info.Title, doc.Info.Version)
	}
	bearer := doc.Components.SecuritySchemes["bearerAuth"]
	if bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" {
		t.Errorf("bearerAuth is not an http bearer scheme: %+v", bearer)
	}
	oauth := doc.Components.SecuritySchemes["oauth2Password"]
	if oauth == nil || oauth.Value.Flows == nil || oauth.Value.Flows.Password == nil ||
		oauth.Value.Flows.Password.TokenURL != "/login" {
		t.Errorf("oauth2Password is not a password flow against /login: %+v", oauth)
	}
}

// contract lists every operation of shared/API.md with every status it can
// answer. Each also answers 500; the business operations 429, and 503
// when the database is down.
var contract = []struct {
	method, path string
	auth         bool
	statuses     []int
}{
	{"GET", "/", false, []int{200}},
	{"GET", "/health", false, []int{200}},
	{"GET", "/ready", false, []int{200, 503}},
	{"GET", "/openapi.json", false, []int{200}},
	{"GET", "/docs", false, []int{200}},
	{"POST", "/organizations", false, []int{201, 400, 413, 415, 422, 429, 503}},
	{"POST", "/invites", true, []int{201, 400, 401, 403, 409, 413, 415, 422, 429, 503}},
	{"GET", "/invites", true, []int{200, 401, 403, 429, 503}},
	{"DELETE", "/invites/{id}", true, []int{204, 401, 403, 404, 422, 429, 503}},
	{"POST", "/signup", false, []int{201, 400, 403, 409, 413, 415, 422, 429, 503}},
	{"POST", "/login", false, []int{200, 400, 401, 413, 415, 422, 429, 503}},
	{"POST", "/token/refresh", false, []int{200, 400, 401, 413, 415, 422, 429, 503}},
	{"POST", "/logout", true, []int{204, 400, 401, 403, 413, 415, 422, 429, 503}},
	{"GET", "/me", true, []int{200, 401, 429, 503}},
	{"POST", "/me/password", true, []int{204, 400, 401, 403, 413, 415, 422, 429, 503}},
	{"GET", "/users", true, []int{200, 401, 429, 503}},
	{"PATCH", "/users/{id}", true, []int{200, 400, 401, 403, 404, 409, 413, 415, 422, 429, 503}},
	{"DELETE", "/users/{id}", true, []int{204, 401, 403, 404, 409, 422, 429, 503}},
	{"POST", "/api-keys", true, []int{201, 400, 401, 403, 409, 413, 415, 422, 429, 503}},
	{"GET", "/api-keys", true, []int{200, 401, 429, 503}},
	{"DELETE", "/api-keys/{id}", true, []int{204, 401, 403, 404, 422, 429, 503}},
	{"GET", "/events/stream", true, []int{200, 401, 422, 429, 503}},
	{"GET", "/tasks", true, []int{200, 304, 400, 401, 422, 429, 503}},
	{"POST", "/tasks", true, []int{201, 400, 401, 403, 409, 413, 415, 422, 429, 503}},
	{"GET", "/tasks/{id}", true, []int{200, 304, 400, 401, 404, 422, 429, 503}},
	{"PATCH", "/tasks/{id}", true, []int{200, 400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503}},
	{"PUT", "/tasks/{id}", true, []int{200, 400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503}},
	{"DELETE", "/tasks/{id}", true, []int{204, 400, 401, 403, 404, 412, 422, 429, 503}},
	{"GET", "/tasks/{id}/events", true, []int{200, 401, 404, 422, 429, 503}},
	{"GET", "/events", true, []int{200, 401, 403, 422, 429, 503}},
	{"POST", "/webhooks", true, []int{201, 400, 401, 403, 409, 413, 415, 422, 429, 503}},
	{"GET", "/webhooks", true, []int{200, 401, 403, 429, 503}},
	{"GET", "/webhooks/{id}", true, []int{200, 401, 403, 404, 422, 429, 503}},
	{"PATCH", "/webhooks/{id}", true, []int{200, 400, 401, 403, 404, 413, 415, 422, 429, 503}},
	{"DELETE", "/webhooks/{id}", true, []int{204, 401, 403, 404, 422, 429, 503}},
	{"GET", "/webhooks/{id}/deliveries", true, []int{200, 401, 403, 404, 422, 429, 503}},
	{"POST", "/webhooks/{id}/ping", true, []int{202, 401, 403, 404, 422, 429, 503}},
	{"POST", "/webhooks/{id}/rotate-secret", true, []int{200, 401, 403, 404, 422, 429, 503}},
}

func TestOpenAPI_DocumentsExactlyTheContractsOperationsAndStatuses(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)

	want := map[string]bool{}
	for _, c := range contract {
		want[c.method+" "+c.path] = true
		op := doc.Paths.Find(c.path).GetOperation(c.method)
		if op == nil {
			t.Errorf("%s %s is not documented", c.method, c.path)
			continue
		}
		statuses := append(slices.Clone(c.statuses), 500)
		var got []int
		for code := range op.Responses.Map() {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s %s: response %q is not a plain status code", c.method, c.path, code)
				continue
			}
			got = append(got, n)
		}
		slices.Sort(statuses)
		slices.Sort(got)
		if !slices.Equal(got, statuses) {
			t.Errorf("%s %s documents statuses %v, want %v", c.method, c.path, got, statuses)
		}

		var schemes []string
		if op.Security != nil {
			for _, req := range *op.Security {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
		}
		slices.Sort(schemes)
		if c.auth && !slices.Equal(schemes, []string{"bearerAuth", "oauth2Password"}) {
			t.Errorf("%s %s: security alternatives %v, want bearerAuth and oauth2Password", c.method, c.path, schemes)
		}
		if !c.auth && (op.Security == nil || len(*op.Security) != 0) {
			t.Errorf("%s %s is public but does not say so with an empty security list", c.method, c.path)
		}

		for code, ref := range op.Responses.Map() {
			h := ref.Value.Headers
			if rid := h["X-Request-ID"]; rid == nil || !rid.Value.Required {
				t.Errorf("%s %s -> %s: X-Request-ID is not a required header", c.method, c.path, code)
			}
			// A client told "unavailable" is told when to come back; /ready
			// answers load balancers, which poll on their own schedule.
			if code == "503" && c.path != "/ready" {
				if ra := h["Retry-After"]; ra == nil || !ra.Value.Required {
					t.Errorf("%s %s -> 503: Retry-After is not a required header", c.method, c.path)
				}
			}
			if c.auth && code[0] == '2' {
				if cc := h["Cache-Control"]; cc == nil || !cc.Value.Required {
					t.Errorf("%s %s -> %s: Cache-Control is not a required header", c.method, c.path, code)
				}
			}
		}
	}

	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !want[method+" "+path] {
				t.Errorf("%s %s is documented but not part of the contract", method, path)
			}
		}
	}
}

func TestOpenAPI_OperationIDsAreUnique(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			if prev, ok := seen[op.OperationID]; ok {
				t.Errorf("operationId %q used by %s and %s %s", op.OperationID, prev, method, path)
			}
			seen[op.OperationID] = method + " " + path
		}
	}
}

// notYetBuilt names the operations of shared/API.md that TaskFlow does not
// serve yet, so openapi.json does not describe them. Each leaves this list in
// the commit that builds it; the test below fails for an entry that is
// documented (the list is stale) or that API.md no longer names.
var notYetBuilt = []string{}

// contractCopy is the repository's copy of the HTTP contract, so that a
// clone without the shared/ folder beside it (the public CI workflow)
// checks the same thing.
const contractCopy = "../../../docs/contract/API.md"

// contractText is the HTTP contract: shared/API.md beside the clone when it
// is there, and then the repository's copy must match it (a contract change
// is copied in with the code that follows it); the copy otherwise.
func contractText(t *testing.T) []byte {
	t.Helper()
	committed, err := os.ReadFile(filepath.FromSlash(contractCopy))
	if err != nil {
		t.Fatalf("the repository's copy of the contract: %v", err)
	}
	for _, p := range []string{"../../../../shared/API.md", "../../../../../shared/API.md"} {
		if shared, err := os.ReadFile(filepath.FromSlash(p)); err == nil {
			if !bytes.Equal(shared, committed) {
				t.Fatalf("docs/contract/API.md differs from %s: copy the contract in", p)
			}
			break
		}
	}
	return committed
}

// Every "METHOD /path" the contract names must be documented, but for the
// operations listed in notYetBuilt.
func TestOpenAPI_DescribesEveryPathNamedInAPIMarkdown(t *testing.T) {
	t.Parallel()
	text := contractText(t)
	doc := loadDoc(t)
	documented := func(op string) bool {
		method, path, _ := strings.Cut(op, " ")
		item := doc.Paths.Find(path)
		return item != nil && item.GetOperation(method) != nil
	}
	re := regexp.MustCompile("`(GET|POST|PUT|PATCH|DELETE) (/[^` ?]*)")
	matches := re.FindAllStringSubmatch(string(text), -1)
	if len(matches) < 10 {
		t.Fatalf("found only %d operations in API.md; has its format changed?", len(matches))
	}
	named := map[string]bool{}
	for _, m := range matches {
		op := m[1] + " " + m[2]
		named[op] = true
		if !documented(op) && !slices.Contains(notYetBuilt, op) {
			t.Errorf("API.md names %s but openapi.json does not document it", op)
		}
	}
	for _, op := range notYetBuilt {
		if documented(op) {
			t.Errorf("%s is documented now: remove it from notYetBuilt", op)
		}
		if !named[op] {
			t.Errorf("%s is in notYetBuilt but API.md does not name it", op)
		}
	}
}

func TestAssets_DocsPageUsesOnlyLocalFiles(t *testing.T) {
	t.Parallel()
	assets := apidoc.Assets()
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		t.Fatalf("index.html: %v", err)
	}
	initJS, err := fs.ReadFile(assets, "init.js")
	if err != nil {
		t.Fatalf("init.js: %v", err)
	}

	for name, b := range map[string][]byte{"index.html": index, "init.js": initJS} {
		if s := strings.ToLower(string(b)); strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "//cdn") {
			t.Errorf("%s refers to a remote URL", name)
		}
	}
	if !strings.Contains(string(initJS), `"/openapi.json"`) {
		t.Error(`init.js does not point Swagger UI at "/openapi.json"`)
	}

	// Every script comes from a file so that script-src 'self' is enough.
	scripts := regexp.MustCompile(`<script\b[^>]*>`).FindAllString(string(index), -1)
	if len(scripts) == 0 {
		t.Fatal("index.html loads no script")
	}
	for _, s := range scripts {
		if !strings.Contains(s, "src=") {
			t.Errorf("inline script in index.html: %s", s)
		}
	}

	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(index), -1)
	for _, r := range refs {
		name, ok := strings.CutPrefix(r[1], "/docs/")
		if !ok {
			t.Errorf("index.html refers to %q, outside /docs/", r[1])
			continue
		}
		if _, err := fs.Stat(assets, name); err != nil {
			t.Errorf("index.html refers to %q, which is not embedded: %v", r[1], err)
		}
	}
	for _, name := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"} {
		if _, err := fs.Stat(assets, name); err != nil {
			t.Errorf("%s is not embedded: %v", name, err)
		}
	}
}

// TestOpenAPI_DescribesTaskFlowAsItIs: the served document speaks of
// TaskFlow as it is; the history of its changes belongs to shared/API.md.
func TestOpenAPI_DescribesTaskFlowAsItIs(t *testing.T) {
	t.Parallel()
	for _, phrase := range []string{"the original", "(changed"} {
		if i := strings.Index(strings.ToLower(string(apidoc.OpenAPI)), phrase); i >= 0 {
			t.Errorf("openapi.json speaks of %q: ...%s...", phrase, apidoc.OpenAPI[max(0, i-80):min(len(apidoc.OpenAPI), i+80)])
		}
	}
}

// TestAssets_AuthorizeDialogAsksOnlyForWhatLoginReads: the docs page's
// Authorize dialog offers the bearer token and the OAuth2 password flow
// against POST /login, without scope checkboxes (the flow's scopes are
// empty, and Swagger UI draws them only when there are some) and without
// the client fields Swagger UI always draws for that flow (index.css
// hides their rows). The bundle is checked for what both rely on, so an
// upgrade that changes it fails here rather than on the page.
func TestAssets_AuthorizeDialogAsksOnlyForWhatLoginReads(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	schemes := doc.Components.SecuritySchemes
	if b := schemes["bearerAuth"]; b == nil || b.Value.Type != "http" || b.Value.Scheme != "bearer" {
		t.Errorf("bearerAuth is not an http bearer scheme: %+v", b)
	}
	o := schemes["oauth2Password"]
	if o == nil || o.Value.Type != "oauth2" || o.Value.Flows == nil {
		t.Fatalf("oauth2Password is not an OAuth2 scheme: %+v", o)
	}
	flows := o.Value.Flows
	if flows.Implicit != nil || flows.AuthorizationCode != nil || flows.ClientCredentials != nil {
		t.Error("oauth2Password offers a flow other than password")
	}
	if p := flows.Password; p == nil || p.TokenURL != "/login" || len(p.Scopes) != 0 {
		t.Errorf("oauth2Password's password flow: %+v, want tokenUrl /login and no scopes", p)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security == nil {
				continue
			}
			for _, req := range *op.Security {
				if scopes, ok := req["oauth2Password"]; ok && len(scopes) != 0 {
					t.Errorf("%s %s asks oauth2Password for scopes %v", method, path, scopes)
				}
			}
		}
	}

	assets := apidoc.Assets()
	read := func(name string) string {
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	bundle, css, index := read("swagger-ui-bundle.js"), read("index.css"), read("index.html")
	for what, re := range map[string]string{
		// The flow is named "password", the client inputs' ids and their
		// labels' for= are client_id_<flow> and client_secret_<flow>, the
		// location select is password_type, and a Row is a div.wrapper.
		"the password flow's name":        `="password",`,
		"client_id_<flow> labels":         `htmlFor:` + "`client_id_\\$\\{",
		"client_secret_<flow> labels":     `htmlFor:` + "`client_secret_\\$\\{",
		"the password_type label":         `htmlFor:"password_type"`,
		"rows as div.wrapper":             `class Row extends \S+\{render\(\)\{return \S+\.createElement\("div",\S+\{className:xclass\(this\.props\.className,"wrapper"\)`,
		"the dialog's auth-container":     `\{className:"auth-container"\}`,
		"scopes drawn only if some":       `&&\w+\.size\?\S+\.createElement\("div",\{className:"scopes"\}`,
		"swagger-ui-dist 5.35.0 (README)": `"5\.35\.0"`,
	} {
		if !regexp.MustCompile(re).MatchString(bundle) {
			t.Errorf("swagger-ui-bundle.js no longer has %s (%s): check index.css and the scopes of openapi.json", what, re)
		}
	}
	rule := regexp.MustCompile(`(?s)([^{}]*)\{([^}]*)\}`)
	hidden := map[string]bool{}
	css = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(css, "")
	for _, m := range rule.FindAllStringSubmatch(css, -1) {
		if !strings.Contains(strings.ReplaceAll(m[2], " ", ""), "display:none") {
			continue
		}
		for sel := range strings.SplitSeq(m[1], ",") {
			sel = strings.TrimSpace(sel)
			if strings.HasPrefix(sel, ".auth-container .wrapper:has(> label[for=") {
				hidden[sel] = true
			}
		}
	}
	for _, id := range []string{"client_id_password", "client_secret_password", "password_type"} {
		if !hidden[`.auth-container .wrapper:has(> label[for="`+id+`"])`] {
			t.Errorf("index.css does not hide the Authorize dialog's row of %s", id)
		}
	}
	if i, j := strings.Index(index, "/docs/swagger-ui.css"), strings.Index(index, "/docs/index.css"); i < 0 || j < i {
		t.Error("index.html does not load index.css after swagger-ui.css")
	}
}
