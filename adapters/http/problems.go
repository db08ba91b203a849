package http

import (
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// problemPage explains one problem code. Every problem's type is
// "/problems/<code with dashes>", and GET on it answers with this, so a
// client that meets an unfamiliar code can follow the type to a sentence
// about it. TestProblemPages_EveryCodeTheServerEmitsHasAPage scans the
// code base for codes, so a new code without a page here fails the tests.
type problemPage struct {
	Code   string `json:"code"`
	Status int    `json:"status"`
	Title  string `json:"title"`
	About  string `json:"description"`
}

var problemPages = []problemPage{
	{Code: "bad_request", Status: 400, About: "The request is malformed in a way no more specific code names. Fix the request; sending it again unchanged gives the same answer."},
	{Code: "idempotency_key_in_progress", Status: 409, About: "A request with this Idempotency-Key is still being processed. Wait for its answer, or retry in a moment: the retry gets the first answer replayed."},
	{Code: "idempotency_key_reused", Status: 422, About: "This Idempotency-Key was already used, within the last 24 hours, for a different request (another body, method or path). Use a new key for a new request."},
	{Code: "malformed_idempotency_key", Status: 400, About: "Idempotency-Key must be 1 to 255 visible ASCII characters, sent once."},
	{Code: "malformed_if_match", Status: 400, About: "If-Match is neither * nor one entity-tag (a quoted version such as \"3\", the task's ETag). Send the ETag as you received it."},
	{Code: "malformed_if_none_match", Status: 400, About: "If-None-Match is neither * nor a comma-separated list of entity-tags. Send back the ETag (or ETags) as you received them."},
	{Code: "malformed_json", Status: 400, About: "The body is not one JSON object: it is empty, not valid JSON, not an object (null, an array, a number), or has data after the object. detail says which."},
	{Code: "malformed_form", Status: 400, About: "The application/x-www-form-urlencoded body of POST /login could not be parsed."},
	{Code: "malformed_body", Status: 400, About: "The request body could not be read to its end (the connection broke or the body was cut short)."},
	{Code: "unauthenticated", Status: 401, About: "The request needs a valid bearer token: Authorization: Bearer <access_token> from POST /login. The token is missing, malformed, expired, wrongly signed, or its session has ended (logout, password change, removal from the organization). Log in again."},
	{Code: "invalid_credentials", Status: 401, About: "The email or the password is wrong. The answer does not say which."},
	{Code: "invalid_refresh_token", Status: 401, About: "The refresh token is invalid, expired, revoked or was already used. Log in again."},
	{Code: "forbidden", Status: 403, About: "You are authenticated, but your role may not do this: for example a USER creating, changing or deleting a task, or managing invites and members; or an API key doing what only a person with a password may (creating keys, changing the password, logging out), or a read-only key writing."},
	{Code: "wrong_password", Status: 403, About: "The current password given to change the password is not correct."},
	{Code: "invite_required", Status: 403, About: "Signing up needs an invite code: POST /organizations gives one for the first ADMIN, and an ADMIN creates more with POST /invites."},
	{Code: "invite_invalid", Status: 403, About: "The invite code is unknown, already used, expired, revoked, or made for another email address."},
	{Code: "invite_mismatch", Status: 403, About: "The sign-up names an organization_id or role that differs from the invite's. Leave both out: the invite decides them."},
	{Code: "not_found", Status: 404, About: "There is no such route. Check the path against /openapi.json."},
	{Code: "organization_not_found", Status: 404, About: "The organization does not exist."},
	{Code: "user_not_found", Status: 404, About: "There is no such member in your organization. A member of another organization is not found either."},
	{Code: "task_not_found", Status: 404, About: "There is no such task in your organization. A task of another organization is not found either."},
	{Code: "invite_not_found", Status: 404, About: "There is no such unused invite in your organization."},
	{Code: "api_key_not_found", Status: 404, About: "There is no such API key in your organization. A key of another organization is not found either."},
	{Code: "webhook_not_found", Status: 404, About: "There is no such webhook in your organization. A webhook of another organization is not found either."},
	{Code: "method_not_allowed", Status: 405, About: "The path exists but does not serve this method. The Allow header names the methods it serves."},
	{Code: "request_timeout", Status: 408, About: "The request was not received in time. Send it again."},
	{Code: "email_taken", Status: 409, About: "This email address is already registered. Email addresses are unique across the service, compared case-insensitively."},
	{Code: "last_admin", Status: 409, About: "The change would leave the organization without an ADMIN. Make another member ADMIN first."},
	{Code: "invalid_status_transition", Status: 409, About: "A task's status moves only CREATED -> IN_PROGRESS -> COMPLETED: no skipping, no going back, nothing out of COMPLETED, and not to the status it already has. When two clients race the same transition, one of them gets this."},
	{Code: "precondition_failed", Status: 412, About: "If-Match named a version the task no longer has (or a value that is not a version): the task changed since you read it. Nothing was changed; read the task again and decide."},
	{Code: "body_too_large", Status: 413, About: "The request body is larger than the limit (1 MiB by default). The server stops reading at the limit."},
	{Code: "unsupported_media_type", Status: 415, About: "The body must be application/json (POST /login also takes application/x-www-form-urlencoded), sent without a Content-Encoding."},
	{Code: "validation_failed", Status: 422, About: "The request is well-formed but a value is not acceptable: out of its range, of the wrong type, or a field or query parameter this request does not accept. errors lists each field and what is wrong with it."},
	{Code: "rate_limited", Status: 429, About: "Too many requests. Wait for the number of seconds in Retry-After before trying again."},
	{Code: "too_many_streams", Status: 429, About: "Your organization has as many open event streams (GET /events/stream) as it may (STREAM_MAX_PER_ORG, 100 by default), across all replicas. Close one, or retry after the number of seconds in Retry-After."},
	{Code: "headers_too_large", Status: 431, About: "The request's header block is larger than the server accepts (16 KiB)."},
	{Code: "internal", Status: 500, About: "A bug in TaskFlow. The answer reveals nothing else; the server log has the cause under the request_id. Report the request_id."},
	{Code: "unavailable", Status: 503, About: "A dependency (the database, or the rate limiter's store) cannot be reached now. Nothing half-done stays behind. Retry after the number of seconds in Retry-After."},
	{Code: "timeout", Status: 503, About: "The request took longer than the server's request timeout, usually because a dependency was slow. Nothing half-done stays behind. Retry after the number of seconds in Retry-After."},
	{Code: "not_ready", Status: 503, About: "GET /ready: this instance should get no traffic now, because a dependency it needs is down (checks names it) or because it is shutting down. A load balancer sends requests elsewhere."},
}

// problemPageOf finds the page for the last segment of a problem type.
var problemPageOf = func() map[string]problemPage {
	m := make(map[string]problemPage, len(problemPages))
	for _, p := range problemPages {
		p.Title = titleOf(p.Code)
		m[problemTypeSegment(p.Code)] = p
	}
	return m
}()

// problemTypeSegment is the last segment of a code's problem type.
func problemTypeSegment(code string) string { return strings.ReplaceAll(code, "_", "-") }

var problemHTML = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} ({{.Status}}) - TaskFlow</title></head>
<body><h1>{{.Title}}</h1>
<p>HTTP status <strong>{{.Status}}</strong>, <code>code</code> <code>{{.Code}}</code>.</p>
<p>{{.About}}</p>
<p>Every TaskFlow error is an RFC 9457 problem (application/problem+json) with this page as its <code>type</code>; <code>detail</code> says what went wrong with this request, <code>request_id</code> finds it in the server log. The API is described at <a href="/docs">/docs</a>.</p>
</body></html>
`))

// problemDoc answers GET /problems/<code>: an HTML page for a browser, the
// same facts as JSON for anything else.
func (s *Server) problemDoc(c *fiber.Ctx) error {
	p, ok := problemPageOf[c.Params("code")]
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "no such problem type")
	}
	if c.Accepts(fiber.MIMEApplicationJSON, fiber.MIMETextHTML) == fiber.MIMETextHTML {
		var b strings.Builder
		if err := problemHTML.Execute(&b, p); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.SendString(b.String())
	}
	return c.JSON(p)
}
