package http

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeJSON_BodyMustBeAnObject: a body that is valid JSON but not an
// object is refused as malformed, never read as an empty object (a null
// PATCH used to answer 200, changing nothing).
func TestDecodeJSON_BodyMustBeAnObject(t *testing.T) {
	app := edgeApp(t)
	for _, tc := range []struct{ name, body string }{
		{"null", `null`},
		{"null_with_spaces", " \n null \t"},
		{"array", `[]`},
		{"array_of_an_object", `[{"title":"x"}]`},
		{"number", `1`},
		{"string", `"title"`},
		{"boolean", `true`},
		{"not_json", `nul`},
	} {
		for _, route := range []struct{ method, path string }{{"PATCH", "/tasks"}, {"POST", "/tasks"}, {"PUT", "/tasks"}} {
			t.Run(tc.name+"/"+route.method, func(t *testing.T) {
				req := httptest.NewRequest(route.method, "http://x"+route.path, strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := app.Test(req, -1)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 400 {
					t.Fatalf("%s %q -> %d %s, want 400", route.method, tc.body, resp.StatusCode, b)
				}
				var p struct{ Code string }
				if err := json.Unmarshal(b, &p); err != nil || p.Code != "malformed_json" {
					t.Fatalf("%s %q -> %s, want code malformed_json", route.method, tc.body, b)
				}
			})
		}
	}
	t.Run("an_empty_object_is_still_accepted", func(t *testing.T) {
		req := httptest.NewRequest("PATCH", "http://x/tasks", strings.NewReader(` {} `))
		req.Header.Set("Content-Type", "application/json")
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("PATCH {} -> %d, want 204", resp.StatusCode)
		}
	})
}
