package http

import (
	"context"
	"math"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/adapters/http/apidoc"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
)

func servedDoc(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(apidoc.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return doc
}

func property(t *testing.T, doc *openapi3.T, schema, prop string) *openapi3.Schema {
	t.Helper()
	s, ok := doc.Components.Schemas[schema]
	if !ok || s.Value.Properties[prop] == nil {
		t.Fatalf("the document has no %s.%s", schema, prop)
	}
	return s.Value.Properties[prop].Value
}

func listParam(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	p := doc.Paths.Find("/tasks").Get.Parameters.GetByInAndName("query", name)
	if p == nil {
		t.Fatalf("GET /tasks documents no %s", name)
	}
	return p.Schema.Value
}

// acceptsQuery reports whether the list query parser takes query.
func acceptsQuery(t *testing.T, query string) bool {
	t.Helper()
	app := fiber.New()
	app.Get("/tasks", func(c *fiber.Ctx) error {
		_, err := parseListQuery(c)
		return err
	})
	resp, err := app.Test(httptest.NewRequest("GET", "/tasks?"+query, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == fiber.StatusOK
}

// TestOpenAPI_SchemaLimitsMatchTheServer: each limit the server enforces
// is stated in the served document, and states the same bound. Each case
// puts the same values to the schema and to the server's own check; they
// must agree on every one, so a limit changed on one side only fails.
func TestOpenAPI_SchemaLimitsMatchTheServer(t *testing.T) {
	doc := servedDoc(t)
	a := strings.Repeat
	task := func(set func(*domain.Task, string) error) func(string) bool {
		return func(v string) bool { return set(&domain.Task{}, v) == nil }
	}
	for _, tc := range []struct {
		name   string
		schema *openapi3.Schema
		server func(string) bool
		values []string
	}{
		// Passwords are bounded in bytes; ASCII is where characters (the
		// schema's unit) and bytes agree. The multibyte case is below.
		{"signup_password", property(t, doc, "SignupRequest", "password"),
			func(v string) bool { return domain.ValidatePassword("password", v) == nil },
			[]string{"", a("p", 7), a("p", 8), a("p", 72), a("p", 73)}},
		{"new_password", property(t, doc, "PasswordChange", "new_password"),
			func(v string) bool { return domain.ValidatePassword("new_password", v) == nil },
			[]string{"", a("p", 7), a("p", 8), a("p", 72), a("p", 73)}},
		{"task_create_title", property(t, doc, "TaskCreate", "title"), task((*domain.Task).SetTitle),
			[]string{"", "a", a("a", 200), a("a", 201), a("é", 200), a("é", 201), "a\x00b"}},
		{"task_patch_title", property(t, doc, "TaskPatch", "title"), task((*domain.Task).SetTitle),
			[]string{"", "a", a("a", 200), a("a", 201), "a\x00b"}},
		{"task_create_description", property(t, doc, "TaskCreate", "description"), task((*domain.Task).SetDescription),
			[]string{"", a("d", 10000), a("d", 10001), a("é", 10000), "line\x00"}},
		{"task_patch_description", property(t, doc, "TaskPatch", "description"), task((*domain.Task).SetDescription),
			[]string{"", a("d", 10000), a("d", 10001), "\x00"}},
		{"organization_name", property(t, doc, "OrganizationCreate", "name"),
			func(v string) bool { _, err := domain.NewOrganization(v, time.Now()); return err == nil },
			[]string{"", "Acme", a("o", 200), a("o", 201), "Ac\x00me"}},
		{"list_cursor", listParam(t, doc, "cursor"),
			func(v string) bool { return acceptsQuery(t, "cursor="+v) },
			[]string{"", "djI6Nw"}},
		{"list_label", listParam(t, doc, "label"),
			func(v string) bool { return acceptsQuery(t, "label="+url.QueryEscape(v)) },
			[]string{"", "a", "Release", a("a", 50), a("a", 51), a("é", 50), a("é", 51), "a\x00b"}},
		{"list_priority", listParam(t, doc, "priority"),
			func(v string) bool { return acceptsQuery(t, "priority="+url.QueryEscape(v)) },
			[]string{"", "LOW", "MEDIUM", "HIGH", "URGENT", "urgent", "CRITICAL"}},
		{"list_sort", listParam(t, doc, "sort"),
			func(v string) bool { return acceptsQuery(t, "sort="+url.QueryEscape(v)) },
			[]string{"-created", "created", "-updated", "updated", "due", "-priority", "priority", "-due", "", "title"}},
		{"list_assignee_words", listParam(t, doc, "assignee_id"),
			func(v string) bool { return acceptsQuery(t, "assignee_id="+url.QueryEscape(v)) },
			[]string{"me", "none", "ME", "all", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.values {
				doc, srv := tc.schema.VisitJSON(v) == nil, tc.server(v)
				if doc != srv {
					t.Errorf("%.20q (%d bytes): the document accepts it: %v, the server: %v", v, len(v), doc, srv)
				}
			}
		})
	}

	t.Run("list_page", func(t *testing.T) {
		page := listParam(t, doc, "page")
		for _, n := range []int{0, 1, application.MaxPage, application.MaxPage + 1, math.MaxInt32} {
			doc, srv := page.VisitJSON(float64(n)) == nil, acceptsQuery(t, "page="+strconv.Itoa(n))
			if doc != srv {
				t.Errorf("page=%d: the document accepts it: %v, the server: %v", n, doc, srv)
			}
		}
	})

	// Login checks only the upper bound before comparing: a short wrong
	// password is a 401 like any wrong password, not a 422.
	t.Run("login_password", func(t *testing.T) {
		for _, s := range []*openapi3.Schema{property(t, doc, "LoginRequest", "password"), property(t, doc, "LoginForm", "password")} {
			if s.MinLength != 1 || s.MaxLength == nil || *s.MaxLength != domain.MaxPasswordBytes {
				t.Errorf("login password: minLength %d, maxLength %v; want 1 and %d", s.MinLength, s.MaxLength, domain.MaxPasswordBytes)
			}
		}
	})

	// A schema counts characters; the server counts bytes. The schema
	// cannot say it, so the description must.
	t.Run("password_lengths_are_described_in_bytes", func(t *testing.T) {
		for _, s := range []*openapi3.Schema{property(t, doc, "SignupRequest", "password"), property(t, doc, "PasswordChange", "new_password"),
			property(t, doc, "LoginRequest", "password"), property(t, doc, "LoginForm", "password")} {
			if !strings.Contains(s.Description, "72 bytes") {
				t.Errorf("password description %q does not say the limit is in bytes", s.Description)
			}
		}
	})

	// If-Match takes the ETag the server gives a task, or *.
	t.Run("if_match", func(t *testing.T) {
		p := doc.Components.Parameters["IfMatch"].Value.Schema.Value
		for _, v := range []string{etagOf(1), etagOf(42), etagOf(math.MaxInt64), "*"} {
			if err := p.VisitJSON(v); err != nil {
				t.Errorf("If-Match %s is a version the server issues, the document refuses it: %v", v, err)
			}
		}
		// A well-formed tag that names no version ("0", W/"1") is a 412,
		// so the document accepts it; what the server answers 400 (not one
		// entity-tag) it refuses. TestConditionalHeaders_ServerRefusesWhatTheDocumentRefuses
		// holds the two to each other value by value.
		for _, v := range []string{"1", `"1", "2"`, `"1`} {
			if p.VisitJSON(v) == nil {
				t.Errorf("If-Match %s is not one entity-tag, the document accepts it", v)
			}
		}
	})

	// A new task starts CREATED: the use case refuses any other status
	// with 422, so the document offers no other.
	if e := property(t, doc, "TaskCreate", "status").Enum; !slices.Equal(e, []any{string(domain.StatusCreated)}) {
		t.Errorf("TaskCreate.status enum %v, want only CREATED", e)
	}
}
