package specvalidate_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/taskflow/taskflow/adapters/http/apidoc"
	"github.com/taskflow/taskflow/adapters/http/apidoc/specvalidate"
)

const task = `{"id":7,"organization_id":1,"title":"Launch product","description":"","status":"CREATED",
 "assignee_id":null,"priority":"MEDIUM","due_at":null,"labels":[],"completed_at":null,"created_by":1,"created_at":"2026-11-28T06:56:09.664Z","updated_at":"2026-11-28T06:56:09.664Z","version":1}`

const problem = `{"type":"/problems/not-found","title":"Not found","status":404,"detail":"task not found",
 "code":"not_found","request_id":"01JDZ3Q5T8M4Y7W2K9X6C1B0NA"}`

// listTag is an ETag of a task list: weak, a 128-bit hash in hex.
const listTag = `W/"6f1c2a9e0b7d4c3f8a5e1d2c3b4a5f60"`

func taskHeaders() http.Header {
	return http.Header{
		"Content-Type":  {"application/json"},
		"X-Request-Id":  {"01JDZ3Q5T8M4Y7W2K9X6C1B0NA"},
		"Cache-Control": {"no-store"},
		"Etag":          {`"1"`},
	}
}

func newValidator(t *testing.T) *specvalidate.Validator {
	t.Helper()
	v, err := specvalidate.New(apidoc.OpenAPI)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestValidator_Response(t *testing.T) {
	t.Parallel()
	v := newValidator(t)

	tests := []struct {
		name    string
		method  string
		target  string
		status  int
		header  func() http.Header
		body    string
		wantErr string // empty: must pass
	}{
		{name: "valid_task_passes", method: "GET", target: "http://any.host:1234/tasks/7", status: 200, header: taskHeaders, body: task},
		{name: "task_with_unknown_status_fails", method: "GET", target: "/tasks/7", status: 200, header: taskHeaders,
			body: strings.Replace(task, `"CREATED"`, `"DONE"`, 1), wantErr: "status"},
		{name: "task_with_extra_field_fails", method: "GET", target: "/tasks/7", status: 200, header: taskHeaders,
			body: strings.Replace(task, `"version":1`, `"version":1,"password_hash":"x"`, 1), wantErr: "password_hash"},
		{name: "task_missing_a_field_fails", method: "GET", target: "/tasks/7", status: 200, header: taskHeaders,
			body: strings.Replace(task, `"assignee_id":null,`, ``, 1), wantErr: "assignee_id"},
		{name: "undocumented_status_fails", method: "GET", target: "/tasks/7", status: 409, header: taskHeaders, body: problem,
			wantErr: "status is not supported"},
		{name: "wrong_content_type_fails", method: "GET", target: "/tasks/7", status: 200,
			header: func() http.Header { h := taskHeaders(); h.Set("Content-Type", "text/plain"); return h }, body: task,
			wantErr: "text/plain"},
		{name: "missing_etag_fails", method: "GET", target: "/tasks/7", status: 200,
			header: func() http.Header { h := taskHeaders(); h.Del("ETag"); return h }, body: task, wantErr: "ETag"},
		{name: "missing_request_id_fails", method: "GET", target: "/tasks/7", status: 200,
			header: func() http.Header { h := taskHeaders(); h.Del("X-Request-ID"); return h }, body: task, wantErr: "X-Request-ID"},
		{name: "problem_for_documented_status_passes", method: "GET", target: "/tasks/7", status: 404,
			header: func() http.Header {
				return http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}}
			}, body: problem},
		{name: "unauthorized_without_challenge_fails", method: "GET", target: "/me", status: 401,
			header: func() http.Header {
				return http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"r1"}}
			}, body: strings.Replace(problem, "404", "401", 1), wantErr: "WWW-Authenticate"},
		{name: "no_content_passes", method: "DELETE", target: "/tasks/7", status: 204,
			header: func() http.Header { return http.Header{"X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}} }},
		{name: "body_on_no_content_fails", method: "DELETE", target: "/tasks/7", status: 204,
			header: func() http.Header { return http.Header{"X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}} },
			body:   `{"message":"deleted"}`, wantErr: "body"},
		{name: "task_list_with_query_passes", method: "GET", target: "/tasks?status=CREATED&limit=10", status: 200,
			header: func() http.Header {
				h := taskHeaders()
				h.Set("ETag", listTag)
				h.Set("Link", `</tasks?cursor=abc&limit=10>; rel="next"`)
				return h
			}, body: "[" + task + "]"},
		{name: "task_list_without_etag_fails", method: "GET", target: "/tasks", status: 200,
			header: func() http.Header { h := taskHeaders(); h.Del("ETag"); return h }, body: "[" + task + "]", wantErr: "ETag"},
		{name: "not_modified_list_passes", method: "GET", target: "/tasks?limit=10", status: 304,
			header: func() http.Header {
				return http.Header{"X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}, "Etag": {listTag}}
			}},
		{name: "not_modified_task_passes", method: "GET", target: "/tasks/7", status: 304,
			header: func() http.Header { h := taskHeaders(); h.Del("Content-Type"); return h }},
		{name: "body_on_not_modified_fails", method: "GET", target: "/tasks/7", status: 304,
			header: taskHeaders, body: task, wantErr: "body"},
		{name: "not_modified_without_etag_fails", method: "GET", target: "/tasks", status: 304,
			header: func() http.Header { return http.Header{"X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}} }, wantErr: "ETag"},
		{name: "not_modified_list_with_a_task_etag_fails", method: "GET", target: "/tasks", status: 304,
			header: func() http.Header {
				return http.Header{"X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}, "Etag": {`"1"`}}
			}, wantErr: "ETag"},
		{name: "undocumented_not_modified_fails", method: "GET", target: "/me", status: 304,
			header:  func() http.Header { return http.Header{"X-Request-Id": {"r1"}, "Cache-Control": {"no-store"}} },
			wantErr: "status is not supported"},
		{name: "docs_page_passes", method: "GET", target: "/docs", status: 200,
			header: func() http.Header {
				return http.Header{"Content-Type": {"text/html; charset=utf-8"}, "X-Request-Id": {"r1"}}
			}, body: "<!DOCTYPE html><html></html>"},
		{name: "not_ready_problem_passes", method: "GET", target: "/ready", status: 503,
			header: func() http.Header {
				return http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"r1"}}
			}, body: strings.Replace(strings.Replace(problem, "404", "503", 1), `"code"`, `"checks":{"database":"unreachable"},"code"`, 1)},
		{name: "rate_limited_without_retry_after_fails", method: "POST", target: "/login", status: 429,
			header: func() http.Header {
				return http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"r1"}}
			}, body: strings.Replace(problem, "404", "429", 1), wantErr: "Retry-After"},
		{name: "unknown_route_fails", method: "GET", target: "/nope", status: 200, header: taskHeaders, body: task, wantErr: "no documented operation"},
		{name: "unknown_method_fails", method: "POST", target: "/tasks/7", status: 200, header: taskHeaders, body: task, wantErr: "no documented operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.target, nil)
			err := v.Response(req, tt.status, tt.header(), []byte(tt.body))
			if err != nil {
				t.Logf("error: %v", err)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("want an error mentioning %q, got none", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("want an error mentioning %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestNew_RejectsAnInvalidDocument(t *testing.T) {
	t.Parallel()
	if _, err := specvalidate.New([]byte(`{"openapi":"3.1.0","info":{"title":"x"},"paths":{}}`)); err == nil {
		t.Fatal("a document without info.version was accepted")
	}
}
