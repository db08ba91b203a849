package http

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/adapters/http/apidoc"
)

func TestParseEntityTags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   []entityTag // nil: malformed
	}{
		{`"a"`, []entityTag{{false, `"a"`}}},
		{`W/"a"`, []entityTag{{true, `"a"`}}},
		{`""`, []entityTag{{false, `""`}}},
		{`"a", W/"b"`, []entityTag{{false, `"a"`}, {true, `"b"`}}},
		{`"a",W/"b"`, []entityTag{{false, `"a"`}, {true, `"b"`}}},
		{" \"a\" ,\t, \"b\" ", []entityTag{{false, `"a"`}, {false, `"b"`}}},
		{`"3f2a!#~"`, []entityTag{{false, `"3f2a!#~"`}}},
		{`a`, nil},
		{`3`, nil},
		{`"a`, nil},
		{`W/a`, nil},
		{`w/"a"`, nil},
		{`W/ "a"`, nil},
		{`"a" "b"`, nil},
		{`"a"x`, nil},
		{`"a b"`, nil},
		{"\"a\tb\"", nil},
		{`"é"`, nil},
		{`,`, nil},
		{`*`, nil},
		{`"a", *`, nil},
		{`"a",`, []entityTag{{false, `"a"`}}},
	} {
		got, ok := parseEntityTags(tc.header)
		if ok != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("parseEntityTags(%q) = %v, %v; want %v", tc.header, got, ok, tc.want)
		}
	}
}

// conditionalApp serves, behind the real error handler, one list-like
// resource with a weak ETag and one task-like resource with a strong one,
// answering as listTasks and getTask do, and a PATCH that reports the
// version ifMatch read.
func conditionalApp(t testing.TB) *fiber.App {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	handle := errorHandler(log)
	app := fiber.New(fiber.Config{ErrorHandler: handle, DisableStartupMessage: true})
	app.Use(observe(log, handle, nil, nil, nil))
	serve := func(tag string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			cond, err := ifNoneMatch(c)
			if err != nil {
				return err
			}
			c.Set(fiber.HeaderETag, tag)
			if cond.matches([]byte(tag)) {
				return notModified(c)
			}
			return sendJSON(c, []byte(`[]`))
		}
	}
	app.Get("/list", serve(`W/"0123abcd"`))
	app.Get("/task", serve(`"7"`))
	app.Patch("/task", func(c *fiber.Ctx) error {
		v, err := ifMatch(c)
		if err != nil {
			return err
		}
		return c.JSON(v)
	})
	return app
}

func send(t *testing.T, app *fiber.App, method, path, header, value string) (status int, h map[string]string, body string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://x"+path, nil)
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h = map[string]string{}
	for k := range resp.Header {
		h[k] = resp.Header.Get(k)
	}
	return resp.StatusCode, h, string(b)
}

func TestIfNoneMatch_AnswersNotModifiedWhenAnyTagMatchesWeakly(t *testing.T) {
	t.Parallel()
	app := conditionalApp(t)
	for _, tc := range []struct {
		path, inm string
		want      int
	}{
		{"/list", ``, 200},
		{"/list", `W/"0123abcd"`, 304},
		{"/list", `"0123abcd"`, 304}, // weak comparison ignores W/
		{"/list", `"old", W/"0123abcd"`, 304},
		{"/list", `*`, 304},
		{"/list", `W/"0123abc"`, 200},
		{"/list", `"old", "older"`, 200},
		{"/task", `"7"`, 304},
		{"/task", `W/"7"`, 304},
		{"/task", `"6", "7"`, 304},
		{"/task", `"8"`, 200},
		{"/task", `*`, 304},
	} {
		status, h, body := send(t, app, "GET", tc.path, "If-None-Match", tc.inm)
		if status != tc.want {
			t.Errorf("GET %s If-None-Match %s: status %d, want %d", tc.path, tc.inm, status, tc.want)
			continue
		}
		if h["Etag"] == "" {
			t.Errorf("GET %s If-None-Match %s -> %d without an ETag", tc.path, tc.inm, status)
		}
		if status == 304 && body != "" {
			t.Errorf("GET %s If-None-Match %s -> 304 with a body %q", tc.path, tc.inm, body)
		}
	}
}

func TestIfNoneMatch_MalformedIsBadRequest(t *testing.T) {
	t.Parallel()
	app := conditionalApp(t)
	for _, inm := range []string{`0123abcd`, `W/0123abcd`, `"0123abcd`, `"a" "b"`, `"a", *`, `,`, `w/"7"`, `"é"`} {
		for _, path := range []string{"/list", "/task"} {
			status, h, body := send(t, app, "GET", path, "If-None-Match", inm)
			var p problem
			_ = json.Unmarshal([]byte(body), &p)
			if status != 400 || !strings.HasPrefix(h["Content-Type"], problemJSON) || p.Code != "malformed_if_none_match" {
				t.Errorf("GET %s If-None-Match %s: %d %s %s, want 400 problem+json malformed_if_none_match", path, inm, status, h["Content-Type"], body)
			}
		}
	}
}

func TestIfMatch_MalformedIsBadRequestAndUnknownTagNeverMatches(t *testing.T) {
	t.Parallel()
	app := conditionalApp(t)
	for _, tc := range []struct {
		im   string
		want string // the version read, or the problem code
	}{
		{``, "0"},
		{`*`, "0"},
		{`"3"`, "3"},
		{` "3" `, "3"},
		{`W/"3"`, "-1"}, // If-Match compares strongly: a weak tag never matches
		{`"x"`, "-1"},
		{`"0"`, "-1"},
		{`"99999999999999999999"`, "-1"},
		{`3`, "malformed_if_match"},
		{`"3`, "malformed_if_match"},
		{`"3", "4"`, "malformed_if_match"},
		{`W/3`, "malformed_if_match"},
		{`**`, "malformed_if_match"},
	} {
		status, _, body := send(t, app, "PATCH", "/task", "If-Match", tc.im)
		got := strings.TrimSpace(body)
		if status == 400 {
			var p problem
			_ = json.Unmarshal([]byte(body), &p)
			got = p.Code
		} else if status != 200 {
			got = body
		}
		if got != tc.want {
			t.Errorf("If-Match %s: %d %s, want %s", tc.im, status, body, tc.want)
		}
	}
}

// headerPatterns are the patterns the served document gives If-Match and
// If-None-Match: a client (or a property-based tester) that follows them
// must meet no 400, and one that does not must meet one.
func headerPatterns(t testing.TB) (ifMatchRe, ifNoneMatchRe *regexp.Regexp) {
	t.Helper()
	var doc struct {
		Components struct {
			Parameters map[string]struct {
				Schema struct {
					Pattern string `json:"pattern"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(apidoc.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	ps := doc.Components.Parameters
	return regexp.MustCompile(ps["IfMatch"].Schema.Pattern), regexp.MustCompile(ps["IfNoneMatch"].Schema.Pattern)
}

// checkDocumented fails when the server's verdict on value (400 or not)
// differs from the documented pattern's.
func checkDocumented(t *testing.T, app *fiber.App, ifMatchRe, ifNoneMatchRe *regexp.Regexp, value string) {
	t.Helper()
	for _, r := range []struct {
		method, path, header string
		re                   *regexp.Regexp
	}{
		{"GET", "/list", "If-None-Match", ifNoneMatchRe}, {"PATCH", "/task", "If-Match", ifMatchRe},
	} {
		status, _, body := send(t, app, r.method, r.path, r.header, value)
		if status >= 500 {
			t.Fatalf("%s %s: %q -> %d", r.header, r.path, value, status)
		}
		if documented := r.re.MatchString(value); documented != (status != 400) {
			t.Errorf("%s %q: pattern matches %v, server answers %d %s", r.header, value, documented, status, body)
		}
	}
}

func TestConditionalHeaders_ServerRefusesWhatTheDocumentRefuses(t *testing.T) {
	t.Parallel()
	app := conditionalApp(t)
	im, inm := headerPatterns(t)
	for _, v := range append(conditionalSeeds, "", " ", "\t*\t", `"1" ,`, `, "1"`, `"1", "2"`, `W/"1"`, "\u00a0\"1\"", "\v\"1\"") {
		checkDocumented(t, app, im, inm, v)
	}
}

var conditionalSeeds = []string{
	`"a"`, `W/"a"`, `*`, `"a", W/"b"`, ` , "a" ,, `, `""`, `W/`, `"`, `W/"`, `"a" "b"`, "\"\x00\"", `"é"`, `**`, `"1"`, `3`, `"a", *`,
}

// FuzzIfNoneMatch: no If-None-Match or If-Match value makes the edge
// answer 5xx; whatever parses as entity-tags is only quoted tags; and the
// server refuses exactly what the documented patterns refuse.
func FuzzIfNoneMatch(f *testing.F) {
	for _, seed := range conditionalSeeds {
		f.Add(seed)
	}
	app := conditionalApp(f)
	im, inm := headerPatterns(f)
	f.Fuzz(func(t *testing.T, value string) {
		if tags, ok := parseEntityTags(value); ok {
			for _, tg := range tags {
				if len(tg.opaque) < 2 || tg.opaque[0] != '"' || tg.opaque[len(tg.opaque)-1] != '"' {
					t.Fatalf("parseEntityTags(%q): opaque tag %q is not quoted", value, tg.opaque)
				}
			}
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return // not a header value a client could send
		}
		checkDocumented(t, app, im, inm, value)
	})
}
