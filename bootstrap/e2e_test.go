package bootstrap_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/bootstrap"
)

// TestAPI runs the whole contract (API.md) against a real server, once per
// cache backend on Postgres and once on the embedded default (SQLite and
// the memory cache, what an empty environment gets). Each configuration
// gets its own server and database; the subtests share that server and
// keep out of each other's way by working in organizations of their own.
func TestAPI(t *testing.T) {
	suite := []struct {
		name string
		run  func(*testing.T, *api)
	}{
		{"walk_through", testWalkThrough},
		{"login", testLogin},
		{"tokens", testTokens},
		{"roles", testUserRoleIsForbiddenAdminActions},
		{"assignee_moves_own_task", testAssigneeMovesOwnTask},
		{"not_found", testNotFound},
		{"status_machine", testStatusMachine},
		{"if_match", testIfMatch},
		{"conditional_reads", testConditionalReads},
		{"malformed_requests", testMalformedRequests},
		{"validation", testValidation},
		{"invites", testInvites},
		{"invite_management", testInviteManagement},
		{"cross_tenant", testCrossTenant},
		{"mass_assignment", testMassAssignment},
		{"task_details", testTaskDetails},
		{"membership_changes", testMembershipChanges},
		{"pagination", testPagination},
		{"list_filters", testListFilters},
		{"list_search", testListSearch},
		{"cache_freshness", testCacheFreshness},
		{"concurrent_transitions", testConcurrentTransitions},
		{"operations", testOperations},
		{"request_id", testRequestID},
		{"sessions", testSessions},
		{"idempotency", testIdempotency},
		{"api_keys", testAPIKeys},
	}
	eachConfiguration(t, func(t *testing.T, a *api) {
		for _, s := range suite {
			t.Run(s.name, func(t *testing.T) {
				t.Parallel()
				s.run(t, a)
			})
		}
	})
}

func testWalkThrough(t *testing.T, a *api) {
	name := unique("Acme Corp")
	r := a.expect(t, http.StatusCreated, "", "POST", "/organizations", "", map[string]any{"name": "  " + name + "  "})
	var org struct {
		ID        int64     `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
		Code      string    `json:"admin_invite_code"`
		ExpiresAt time.Time `json:"admin_invite_expires_at"`
	}
	r.into(t, &org)
	if org.ID < 1 || org.Name != name || org.Code == "" {
		t.Fatalf("organization %+v: want a positive id, the trimmed name %q and an invite code", org, name)
	}
	if d := time.Until(org.ExpiresAt); d < 167*time.Hour || d > 169*time.Hour {
		t.Errorf("admin invite expires in %v, want the default 7 days", d)
	}

	email := uniqueEmail("Admin")
	r = a.expect(t, http.StatusCreated, "", "POST", "/signup", "",
		map[string]any{"email": " " + email + " ", "password": password, "invite_code": org.Code})
	var admin userOut
	r.into(t, &admin)
	if admin.ID < 1 || admin.Email != strings.ToLower(email) || admin.Role != "ADMIN" || admin.OrganizationID != org.ID {
		t.Fatalf("signed-up admin %+v: want email %q, role ADMIN, organization %d", admin, strings.ToLower(email), org.ID)
	}

	r = a.expect(t, http.StatusOK, "", "POST", "/login", "", map[string]any{"email": email, "password": password})
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	r.into(t, &tok)
	if tok.AccessToken == "" || tok.TokenType != "bearer" || tok.ExpiresIn != 1800 {
		t.Fatalf("login answer %+v: want a token of type bearer expiring in 1800 s", tok)
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("login answer has Cache-Control %q, want no-store (it carries a token)", r.header.Get("Cache-Control"))
	}

	// The docs page's Authorize button: the OAuth2 password form, as
	// Swagger UI 5.35.0 sends it, with the client credentials the page
	// hides (empty) in a Basic header.
	r = a.expect(t, http.StatusOK, "", "POST", "/login", "",
		form(url.Values{"username": {email}, "password": {password}, "grant_type": {"password"}}.Encode()),
		"Authorization", "Basic Og==")
	var formTok struct {
		AccessToken string `json:"access_token"`
	}
	r.into(t, &formTok)
	for _, token := range []string{tok.AccessToken, formTok.AccessToken} {
		var me userOut
		a.expect(t, http.StatusOK, "", "GET", "/me", token, nil).into(t, &me)
		if me.ID != admin.ID || me.Role != "ADMIN" || me.OrganizationID != org.ID {
			t.Fatalf("GET /me = %+v, want the signed-up admin %+v", me, admin)
		}
	}
	token := tok.AccessToken

	r = a.expect(t, http.StatusCreated, "", "POST", "/tasks", token,
		map[string]any{"title": "Launch product", "status": "CREATED", "description": "the big one"})
	var created task
	r.into(t, &created)
	if created.ID < 1 || created.OrganizationID != org.ID || created.Title != "Launch product" || created.Description != "the big one" ||
		created.Status != "CREATED" || created.AssigneeID != nil || created.CreatedBy != admin.ID || created.Version != 1 {
		t.Fatalf("created task %+v does not match what was sent", created)
	}
	if got, want := r.header.Get("Location"), taskPath(created.ID); !strings.HasSuffix(got, want) {
		t.Errorf("Location %q, want one ending in %q", got, want)
	}
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf(`ETag %q, want "1"`, got)
	}
	if raw := r.obj(t); !strings.HasSuffix(raw["created_at"].(string), "Z") || !strings.HasSuffix(raw["updated_at"].(string), "Z") {
		t.Errorf("timestamps %v, %v: want RFC 3339 in UTC (Z)", raw["created_at"], raw["updated_at"])
	}
	if time.Since(created.CreatedAt) > time.Minute {
		t.Errorf("created_at %v: want a recent time", created.CreatedAt)
	}

	list, _ := a.listTasks(t, token, "")
	if len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("list = %v, want just the created task %d", ids(list), created.ID)
	}

	r = a.expect(t, http.StatusOK, "", "GET", taskPath(created.ID), token, nil)
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf(`GET ETag %q, want "1"`, got)
	}

	var patched task
	r = a.expect(t, http.StatusOK, "", "PATCH", taskPath(created.ID), token, map[string]any{"title": "Launch product v2"})
	r.into(t, &patched)
	if patched.Title != "Launch product v2" || patched.Description != "the big one" || patched.Status != "CREATED" || patched.Version != 2 {
		t.Fatalf("patched task %+v: only the title should change, version 2", patched)
	}
	if got := r.header.Get("ETag"); got != `"2"` {
		t.Errorf(`PATCH ETag %q, want "2"`, got)
	}

	var started task
	a.expect(t, http.StatusOK, "", "PUT", taskPath(created.ID)+"?new_status=IN_PROGRESS", token, nil).into(t, &started)
	if started.Status != "IN_PROGRESS" || started.Version != 3 {
		t.Fatalf("after PUT ?new_status=IN_PROGRESS: %+v", started)
	}
	var done task
	a.expect(t, http.StatusOK, "", "PUT", taskPath(created.ID), token, map[string]any{"status": "COMPLETED"}).into(t, &done)
	if done.Status != "COMPLETED" || done.Version != 4 {
		t.Fatalf(`after PUT {"status":"COMPLETED"}: %+v`, done)
	}

	r = a.expect(t, http.StatusNoContent, "", "DELETE", taskPath(created.ID), token, nil)
	if len(r.body) != 0 {
		t.Errorf("DELETE answered 204 with a body: %q", r.body)
	}
	a.expect(t, http.StatusNotFound, "", "GET", taskPath(created.ID), token, nil)
	if list, _ := a.listTasks(t, token, ""); len(list) != 0 {
		t.Errorf("list after delete = %v, want []", ids(list))
	}
}

func testLogin(t *testing.T, a *api) {
	tn := a.newTenant(t)

	t.Run("wrong_password_and_unknown_email_answer_alike", func(t *testing.T) {
		wrong := a.expect(t, http.StatusUnauthorized, "", "POST", "/login", "",
			map[string]any{"email": tn.Admin.Email, "password": "wrong-password"}).problem(t)
		unknown := a.expect(t, http.StatusUnauthorized, "", "POST", "/login", "",
			map[string]any{"email": uniqueEmail("nobody"), "password": password}).problem(t)
		if wrong.Code != unknown.Code || wrong.Detail != unknown.Detail || wrong.Type != unknown.Type {
			t.Errorf("wrong password %+v and unknown email %+v must be indistinguishable", wrong, unknown)
		}
	})
	t.Run("email_matches_case_insensitively", func(t *testing.T) {
		a.expect(t, http.StatusOK, "", "POST", "/login", "",
			map[string]any{"email": strings.ToUpper(tn.Admin.Email), "password": password})
		a.expect(t, http.StatusOK, "", "POST", "/login", "",
			form(url.Values{"username": {strings.ToUpper(tn.Admin.Email)}, "password": {password}}.Encode()))
	})
	t.Run("form_with_a_wrong_password_is_401", func(t *testing.T) {
		a.expect(t, http.StatusUnauthorized, "", "POST", "/login", "",
			form(url.Values{"username": {tn.Admin.Email}, "password": {"nope-nope"}}.Encode()))
	})
	t.Run("token_carries_the_documented_claims", func(t *testing.T) {
		parts := strings.Split(tn.Admin.Token, ".")
		if len(parts) != 3 {
			t.Fatalf("token %q is not a JWS compact serialization", tn.Admin.Token)
		}
		var header, claims map[string]any
		decodeSegment(t, parts[0], &header)
		decodeSegment(t, parts[1], &claims)
		if header["alg"] != "HS256" {
			t.Errorf("alg %v, want HS256", header["alg"])
		}
		if claims["sub"] != strconv.FormatInt(tn.Admin.ID, 10) || claims["user_id"] != float64(tn.Admin.ID) ||
			claims["organization_id"] != float64(tn.ID) || claims["role"] != "ADMIN" || claims["iss"] != "taskflow" {
			t.Errorf("claims %v: want sub %q, user_id %d, organization_id %d, role ADMIN, iss taskflow", claims, strconv.FormatInt(tn.Admin.ID, 10), tn.Admin.ID, tn.ID)
		}
		iat, _ := claims["iat"].(float64)
		exp, _ := claims["exp"].(float64)
		if jti, _ := claims["jti"].(string); jti == "" || exp-iat != 1800 {
			t.Errorf("claims %v: want a jti and exp = iat + 30 min", claims)
		}
	})
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %q: %v", b, err)
	}
}

// testTokens forges every kind of bad token a client might send; each is
// 401 with a Bearer challenge. A correctly forged token (the service's key,
// HS256, every claim) is accepted first, so that each refusal is about the
// one thing the case changes.
func testTokens(t *testing.T, a *api) {
	tn := a.newTenant(t)
	user := a.addMember(t, tn, "USER")
	key := []byte(a.cfg.SecretKey)
	// A forged token must name a live session of the admin's: take the
	// sid of the admin's real token.
	var real map[string]any
	decodeSegment(t, strings.Split(tn.Admin.Token, ".")[1], &real)
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		now := time.Now()
		c := jwt.MapClaims{
			"sub": strconv.FormatInt(tn.Admin.ID, 10), "user_id": tn.Admin.ID, "organization_id": tn.ID,
			"role": "ADMIN", "iss": "taskflow", "jti": randomHex(8), "sid": real["sid"], "aud": real["aud"],
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatalf("sign %s: %v", method.Alg(), err)
		}
		return s
	}

	a.expect(t, http.StatusOK, "", "GET", "/tasks", sign(jwt.SigningMethodHS256, key, claims(nil)), nil)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The USER's own token with its payload rewritten to claim ADMIN, the
	// signature left as it was.
	parts := strings.Split(user.Token, ".")
	var payload map[string]any
	decodeSegment(t, parts[1], &payload)
	payload["role"] = "ADMIN"
	forgedPayload, _ := json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forgedPayload) + "." + parts[2]

	cases := []struct {
		name    string
		token   string
		headers []string
	}{
		{name: "no_token"},
		{name: "basic_scheme", headers: []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}},
		{name: "bearer_without_token", headers: []string{"Authorization", "Bearer "}},
		{name: "garbage", token: "garbage"},
		{name: "three_garbage_segments", token: "abc.def.ghi"},
		{name: "expired", token: sign(jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}))},
		{name: "signed_with_another_key", token: sign(jwt.SigningMethodHS256, []byte(randomHex(32)), claims(nil))},
		{name: "alg_none", token: sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))},
		{name: "hs512_with_the_right_key", token: sign(jwt.SigningMethodHS512, key, claims(nil))},
		{name: "rs256", token: sign(jwt.SigningMethodRS256, rsaKey, claims(nil))},
		{name: "es256", token: sign(jwt.SigningMethodES256, ecKey, claims(nil))},
		{name: "other_issuer", token: sign(jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" }))},
		{name: "another_installation", token: sign(jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["aud"] = randomHex(16) }))},
		{name: "no_aud", token: sign(jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { delete(c, "aud") }))},
		{name: "no_exp", token: sign(jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{name: "no_session", token: sign(jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { delete(c, "sid") }))},
		{name: "another_session_id", token: sign(jwt.SigningMethodHS256, key, claims(func(c jwt.MapClaims) { c["sid"] = 1 << 40 }))},
		{name: "tampered_payload", token: tampered},
		{name: "truncated_signature", token: user.Token[:len(user.Token)-4]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", tc.token, nil, tc.headers...)
			a.expect(t, http.StatusUnauthorized, "", "GET", "/me", tc.token, nil, tc.headers...)
			a.expect(t, http.StatusUnauthorized, "", "POST", "/tasks", tc.token, map[string]any{"title": "forged"}, tc.headers...)
		})
	}
	if list, _ := a.listTasks(t, tn.Admin.Token, ""); len(list) != 0 {
		t.Errorf("a forged token created tasks: %v", ids(list))
	}
}

// testUserRoleIsForbiddenAdminActions: a USER gets 403 on every ADMIN
// action, and nothing changes.
func testUserRoleIsForbiddenAdminActions(t *testing.T, a *api) {
	tn := a.newTenant(t)
	user := a.addMember(t, tn, "USER")
	tk := a.newTask(t, tn.Admin.Token, "admins only")
	cases := []struct {
		method, path string
		body         any
	}{
		{"POST", "/tasks", map[string]any{"title": "by a user"}},
		{"PATCH", taskPath(tk.ID), map[string]any{"title": "changed by a user"}},
		{"PUT", taskPath(tk.ID) + "?new_status=IN_PROGRESS", nil},
		{"PUT", taskPath(tk.ID), map[string]any{"status": "IN_PROGRESS"}},
		{"DELETE", taskPath(tk.ID), nil},
		{"POST", "/invites", map[string]any{"role": "ADMIN"}},
		{"PATCH", userPath(user.ID), map[string]any{"role": "ADMIN"}},
		{"PATCH", userPath(tn.Admin.ID), map[string]any{"role": "USER"}},
		{"DELETE", userPath(tn.Admin.ID), nil},
		{"DELETE", userPath(user.ID), nil},
	}
	for _, tc := range cases {
		t.Run(tc.method+"_"+strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			a.expect(t, http.StatusForbidden, "", tc.method, tc.path, user.Token, tc.body)
		})
	}
	// Reading stays allowed, and nothing moved.
	list, _ := a.listTasks(t, user.Token, "")
	if len(list) != 1 || list[0].ID != tk.ID || list[0].Version != 1 || list[0].Title != "admins only" || list[0].Status != "CREATED" {
		t.Errorf("after the refused writes the list is %+v, want the untouched task", list)
	}
	if got := a.getTask(t, user.Token, tk.ID); got.Version != 1 {
		t.Errorf("task changed: %+v", got)
	}
	var me userOut
	a.expect(t, http.StatusOK, "", "GET", "/me", user.Token, nil).into(t, &me)
	if me.Role != "USER" {
		t.Errorf("the USER's role is now %q", me.Role)
	}
	var members []userOut
	a.expect(t, http.StatusOK, "", "GET", "/users", user.Token, nil).into(t, &members)
	if len(members) != 2 {
		t.Errorf("members = %+v, want the admin and the user", members)
	}
}

// testAssigneeMovesOwnTask: a USER may move a task assigned to them along
// the state machine, with PUT or a PATCH of status alone, and nothing
// more; the right follows the task's assignee and the member's role as
// they are now.
func testAssigneeMovesOwnTask(t *testing.T, a *api) {
	t.Run("bob_moves_his_task_and_nothing_else", func(t *testing.T) {
		tn := a.newTenant(t)
		bob, alice := a.addMember(t, tn, "USER"), a.addMember(t, tn, "USER")
		tk := a.createTask(t, tn.Admin.Token, map[string]any{"title": "bob's", "assignee_id": bob.ID})
		alices := a.createTask(t, tn.Admin.Token, map[string]any{"title": "alice's", "assignee_id": alice.ID})
		path := taskPath(tk.ID)

		for _, body := range []map[string]any{
			{"title": "bob's"}, // a field present counts, even with the stored value
			{"title": "renamed by bob"},
			{"status": "IN_PROGRESS", "title": "bob's"},
			{"status": "IN_PROGRESS", "assignee_id": nil},
			{"description": "notes"},
			{},
		} {
			a.expect(t, http.StatusForbidden, "forbidden", "PATCH", path, bob.Token, body)
		}
		// A body that is not valid is refused before any right is decided.
		a.expect(t, http.StatusUnprocessableEntity, "", "PATCH", path, bob.Token, map[string]any{"status": "DONE"})
		a.expect(t, http.StatusUnprocessableEntity, "", "PATCH", path, bob.Token, map[string]any{"title": nil})
		a.expect(t, http.StatusBadRequest, "", "PATCH", path, bob.Token, "{")
		a.expect(t, http.StatusConflict, "invalid_status_transition", "PUT", path+"?new_status=COMPLETED", bob.Token, nil)
		a.expect(t, http.StatusPreconditionFailed, "", "PUT", path+"?new_status=IN_PROGRESS", bob.Token, nil, "If-Match", `"7"`)
		if got := a.getTask(t, bob.Token, tk.ID); got.Version != 1 || got.Status != "CREATED" || got.Title != "bob's" {
			t.Fatalf("after the refused requests the task is %+v, want it untouched", got)
		}

		r := a.expect(t, http.StatusOK, "", "PUT", path+"?new_status=IN_PROGRESS", bob.Token, nil, "If-Match", `"1"`)
		var moved task
		r.into(t, &moved)
		if moved.Status != "IN_PROGRESS" || moved.Version != 2 || r.header.Get("ETag") != `"2"` {
			t.Errorf("PUT answered %+v with ETag %s", moved, r.header.Get("ETag"))
		}
		a.expect(t, http.StatusConflict, "invalid_status_transition", "PATCH", path, bob.Token, map[string]any{"status": "IN_PROGRESS"})
		a.expect(t, http.StatusOK, "", "PATCH", path, bob.Token, map[string]any{"status": "COMPLETED"}).into(t, &moved)
		if moved.Status != "COMPLETED" || moved.Version != 3 || moved.Title != "bob's" || moved.AssigneeID == nil || *moved.AssigneeID != bob.ID {
			t.Errorf("PATCH status answered %+v", moved)
		}
		if list, _ := a.listTasks(t, tn.Admin.Token, "status=COMPLETED"); len(list) != 1 || list[0].ID != tk.ID {
			t.Errorf("the admin's list of COMPLETED tasks is %v, want bob's task", ids(list))
		}

		// Alice's task, and an unassigned one, stay out of bob's reach.
		open := a.newTask(t, tn.Admin.Token, "nobody's")
		for _, id := range []int64{alices.ID, open.ID} {
			a.expect(t, http.StatusForbidden, "forbidden", "PUT", taskPath(id)+"?new_status=IN_PROGRESS", bob.Token, nil)
			a.expect(t, http.StatusForbidden, "forbidden", "PUT", taskPath(id), bob.Token, map[string]any{"status": "IN_PROGRESS"})
			a.expect(t, http.StatusForbidden, "forbidden", "PATCH", taskPath(id), bob.Token, map[string]any{"status": "IN_PROGRESS"})
			if got := a.getTask(t, bob.Token, id); got.Version != 1 || got.Status != "CREATED" {
				t.Errorf("task %d moved by someone it is not assigned to: %+v", id, got)
			}
		}
		// The ADMIN keeps every right, on every task.
		a.expect(t, http.StatusOK, "", "PATCH", taskPath(alices.ID), tn.Admin.Token,
			map[string]any{"title": "renamed", "assignee_id": bob.ID, "status": "IN_PROGRESS"})
		a.expect(t, http.StatusNoContent, "", "DELETE", path, tn.Admin.Token, nil)
	})
	t.Run("another_organizations_task_is_404_for_its_namesake", func(t *testing.T) {
		tA, tB := a.newTenant(t), a.newTenant(t)
		userA := a.addMember(t, tA, "USER")
		userB := a.addMember(t, tB, "USER")
		taskA := a.createTask(t, tA.Admin.Token, map[string]any{"title": "A's", "assignee_id": userA.ID})
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"PUT", taskPath(taskA.ID) + "?new_status=IN_PROGRESS", nil},
			{"PUT", taskPath(taskA.ID), map[string]any{"status": "IN_PROGRESS"}},
			{"PATCH", taskPath(taskA.ID), map[string]any{"status": "IN_PROGRESS"}},
			{"PATCH", taskPath(taskA.ID), map[string]any{"title": "hijacked"}},
			{"PATCH", taskPath(taskA.ID), map[string]any{}},
		} {
			a.expect(t, http.StatusNotFound, "", req.method, req.path, userB.Token, req.body)
		}
		if got := a.getTask(t, userA.Token, taskA.ID); got.Version != 1 || got.Status != "CREATED" || got.Title != "A's" {
			t.Errorf("A's task after B's attempts: %+v", got)
		}
	})
	t.Run("a_reassigned_task_leaves_its_former_assignee", func(t *testing.T) {
		tn := a.newTenant(t)
		bob, carol := a.addMember(t, tn, "USER"), a.addMember(t, tn, "USER")
		tk := a.createTask(t, tn.Admin.Token, map[string]any{"title": "handed over", "assignee_id": bob.ID})
		a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", bob.Token, nil)
		a.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tn.Admin.Token, map[string]any{"assignee_id": carol.ID})
		a.expect(t, http.StatusForbidden, "forbidden", "PUT", taskPath(tk.ID)+"?new_status=COMPLETED", bob.Token, nil)
		a.expect(t, http.StatusForbidden, "forbidden", "PATCH", taskPath(tk.ID), bob.Token, map[string]any{"status": "COMPLETED"})
		a.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tn.Admin.Token, map[string]any{"assignee_id": nil})
		a.expect(t, http.StatusForbidden, "forbidden", "PUT", taskPath(tk.ID)+"?new_status=COMPLETED", carol.Token, nil)
		if got := a.getTask(t, bob.Token, tk.ID); got.Status != "IN_PROGRESS" || got.Version != 4 {
			t.Errorf("after the refused moves the task is %s v%d, want IN_PROGRESS v4", got.Status, got.Version)
		}
	})
	t.Run("a_removed_assignee_loses_it_at_once", func(t *testing.T) {
		tn := a.newTenant(t)
		bob := a.addMember(t, tn, "USER")
		tk := a.createTask(t, tn.Admin.Token, map[string]any{"title": "orphaned", "assignee_id": bob.ID})
		a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", bob.Token, nil)
		a.expect(t, http.StatusNoContent, "", "DELETE", userPath(bob.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "PUT", taskPath(tk.ID)+"?new_status=COMPLETED", bob.Token, nil)
		if got := a.getTask(t, tn.Admin.Token, tk.ID); got.Status != "IN_PROGRESS" || got.AssigneeID != nil {
			t.Errorf("after the assignee's removal the task is %+v, want IN_PROGRESS and unassigned", got)
		}
	})
	t.Run("a_demoted_admin_keeps_only_the_assignees_right", func(t *testing.T) {
		tn := a.newTenant(t)
		second := a.addMember(t, tn, "ADMIN")
		own := a.createTask(t, tn.Admin.Token, map[string]any{"title": "second's", "assignee_id": second.ID})
		other := a.newTask(t, tn.Admin.Token, "someone else's")
		a.expect(t, http.StatusOK, "", "PATCH", userPath(second.ID), tn.Admin.Token, map[string]any{"role": "USER"})
		a.expect(t, http.StatusUnauthorized, "", "PUT", taskPath(other.ID)+"?new_status=IN_PROGRESS", second.Token, nil)
		again := a.login(t, second.Email)
		a.expect(t, http.StatusForbidden, "forbidden", "PUT", taskPath(other.ID)+"?new_status=IN_PROGRESS", again, nil)
		a.expect(t, http.StatusForbidden, "forbidden", "PATCH", taskPath(own.ID), again, map[string]any{"title": "still mine?"})
		a.expect(t, http.StatusOK, "", "PUT", taskPath(own.ID), again, map[string]any{"status": "IN_PROGRESS"})
	})
}

func testNotFound(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token
	const missing = 9_000_000_000_000
	a.expect(t, http.StatusNotFound, "", "GET", taskPath(missing), tok, nil)
	a.expect(t, http.StatusNotFound, "", "PATCH", taskPath(missing), tok, map[string]any{"title": "x"})
	a.expect(t, http.StatusNotFound, "", "PUT", taskPath(missing)+"?new_status=IN_PROGRESS", tok, nil)
	a.expect(t, http.StatusNotFound, "", "PUT", taskPath(missing), tok, map[string]any{"status": "IN_PROGRESS"})
	a.expect(t, http.StatusNotFound, "", "DELETE", taskPath(missing), tok, nil)
	a.expect(t, http.StatusNotFound, "", "DELETE", taskPath(missing), tok, nil, "If-Match", `"1"`)
	a.expect(t, http.StatusNotFound, "", "PATCH", userPath(missing), tok, map[string]any{"role": "USER"})
	a.expect(t, http.StatusNotFound, "", "DELETE", userPath(missing), tok, nil)
	// An id that is not a positive integer is a validation failure.
	for _, bad := range []string{"abc", "0", "-1", "99999999999999999999"} {
		a.expect(t, http.StatusUnprocessableEntity, "", "GET", "/tasks/"+bad, tok, nil)
	}
}

func testStatusMachine(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token
	tk := a.newTask(t, tok, "state machine")
	refused := func(t *testing.T, method, path string, body any, wantStatus string, wantVersion int64) {
		t.Helper()
		p := a.expect(t, http.StatusConflict, "invalid_status_transition", method, path, tok, body).problem(t)
		if !strings.Contains(p.Detail, wantStatus) {
			t.Errorf("detail %q does not name the current status %s", p.Detail, wantStatus)
		}
		if got := a.getTask(t, tok, tk.ID); got.Status != wantStatus || got.Version != wantVersion {
			t.Errorf("after a refused transition the task is %s v%d, want %s v%d", got.Status, got.Version, wantStatus, wantVersion)
		}
	}
	path := taskPath(tk.ID)
	refused(t, "PATCH", path, map[string]any{"status": "COMPLETED"}, "CREATED", 1)
	refused(t, "PUT", path+"?new_status=COMPLETED", nil, "CREATED", 1)
	refused(t, "PUT", path, map[string]any{"status": "CREATED"}, "CREATED", 1)
	refused(t, "PATCH", path, map[string]any{"status": "CREATED"}, "CREATED", 1)

	a.expect(t, http.StatusOK, "", "PATCH", path, tok, map[string]any{"status": "IN_PROGRESS"})
	refused(t, "PUT", path+"?new_status=CREATED", nil, "IN_PROGRESS", 2)
	refused(t, "PUT", path+"?new_status=IN_PROGRESS", nil, "IN_PROGRESS", 2)

	a.expect(t, http.StatusOK, "", "PUT", path+"?new_status=COMPLETED", tok, nil)
	for _, to := range []string{"CREATED", "IN_PROGRESS", "COMPLETED"} {
		refused(t, "PUT", path, map[string]any{"status": to}, "COMPLETED", 3)
		refused(t, "PATCH", path, map[string]any{"status": to}, "COMPLETED", 3)
	}

	// A new task starts CREATED; nothing else may be asked for.
	for _, st := range []string{"IN_PROGRESS", "COMPLETED"} {
		p := a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/tasks", tok, map[string]any{"title": "skip", "status": st}).problem(t)
		if !slices.Contains(p.fields(), "status") {
			t.Errorf("422 for status %s names fields %v, want status", st, p.fields())
		}
	}
	if list, _ := a.listTasks(t, tok, ""); len(list) != 1 {
		t.Errorf("list = %v, want only the first task", ids(list))
	}
}

func testIfMatch(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token
	tk := a.newTask(t, tok, "versioned")
	path := taskPath(tk.ID)

	r := a.expect(t, http.StatusOK, "", "PATCH", path, tok, map[string]any{"title": "v2"}, "If-Match", `"1"`)
	if r.header.Get("ETag") != `"2"` {
		t.Fatalf(`ETag after a matching If-Match %q, want "2"`, r.header.Get("ETag"))
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		got := a.getTask(t, tok, tk.ID)
		if got.Version != 2 || got.Title != "v2" || got.Status != "CREATED" {
			t.Errorf("after a failed If-Match the task is %+v, want v2 untouched", got)
		}
	}
	for _, tc := range []struct {
		name, method, path, ifMatch string
		body                        any
	}{
		{"patch_stale", "PATCH", path, `"1"`, map[string]any{"title": "lost update"}},
		{"patch_garbage_etag", "PATCH", path, `"x"`, map[string]any{"title": "lost update"}},
		{"put_query_stale", "PUT", path + "?new_status=IN_PROGRESS", `"1"`, nil},
		{"put_body_stale", "PUT", path, `"1"`, map[string]any{"status": "IN_PROGRESS"}},
		{"delete_stale", "DELETE", path, `"1"`, nil},
		{"delete_future", "DELETE", path, `"3"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.expect(t, http.StatusPreconditionFailed, "", tc.method, tc.path, tok, tc.body, "If-Match", tc.ifMatch)
			unchanged(t)
		})
	}
	a.expect(t, http.StatusOK, "", "PUT", path+"?new_status=IN_PROGRESS", tok, nil, "If-Match", `"2"`)
	a.expect(t, http.StatusNoContent, "", "DELETE", path, tok, nil, "If-Match", `"3"`)
	a.expect(t, http.StatusNotFound, "", "GET", path, tok, nil)
}

func testMalformedRequests(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token
	tk := a.newTask(t, tok, "target")

	t.Run("malformed_json_is_400", func(t *testing.T) {
		for _, tc := range []struct{ method, path, token, body string }{
			{"POST", "/tasks", tok, `{"title":`},
			{"POST", "/tasks", tok, `{"title":"x"} trailing`},
			{"POST", "/tasks", tok, `{"title":"x"}{"title":"y"}`},
			{"POST", "/tasks", tok, `[{"title":"x"}]`},
			{"PATCH", taskPath(tk.ID), tok, `{"title" "x"}`},
			{"PUT", taskPath(tk.ID), tok, `{"status":}`},
			{"POST", "/organizations", "", `{name: "x"}`},
			{"POST", "/signup", "", `{"email":"a@b.c",`},
			{"POST", "/login", "", `not json`},
			{"POST", "/invites", tok, `{"role":"USER"`},
			{"PATCH", userPath(tn.Admin.ID), tok, `{`},
			// Valid JSON, but not an object: never read as {}.
			{"PATCH", taskPath(tk.ID), tok, `null`},
			{"PATCH", taskPath(tk.ID), tok, `[]`},
			{"PUT", taskPath(tk.ID), tok, `"IN_PROGRESS"`},
			{"POST", "/invites", tok, `7`},
			{"PATCH", userPath(tn.Admin.ID), tok, `null`},
		} {
			a.expect(t, http.StatusBadRequest, "", tc.method, tc.path, tc.token, tc.body)
		}
	})

	// A client sending a body over the limit must get to read the 413:
	// sent several times, since losing it (a connection reset while the
	// client still writes) happens on some attempts only.
	t.Run("body_over_the_limit_is_413", func(t *testing.T) {
		pad := strings.Repeat("x", 2<<20)
		for _, tc := range []struct{ method, path, token, body string }{
			{"POST", "/tasks", tok, `{"title":"` + pad + `"}`},
			{"POST", "/organizations", "", `{"name":"` + pad + `"}`},
			{"PATCH", taskPath(tk.ID), tok, `{"description":"` + pad + `"}`},
		} {
			for attempt := range 10 {
				r, violations, err := a.exchange(tc.method, tc.path, tc.token, tc.body)
				if err != nil {
					t.Errorf("%s %s with a 2 MiB body, attempt %d: no answer, the connection was reset: %v", tc.method, tc.path, attempt+1, err)
					continue
				}
				for _, v := range violations {
					t.Errorf("%s: %s", r, v)
				}
				if r.status != http.StatusRequestEntityTooLarge {
					t.Errorf("%s: want 413", r)
				}
			}
		}
		if got := a.getTask(t, tok, tk.ID); got.Version != 1 {
			t.Errorf("an oversized PATCH changed the task: %+v", got)
		}
	})

	t.Run("non_json_body_is_415", func(t *testing.T) {
		text := rawBody{contentType: "text/plain", data: []byte(`{"title":"x"}`)}
		a.expect(t, http.StatusUnsupportedMediaType, "", "POST", "/tasks", tok, text)
		a.expect(t, http.StatusUnsupportedMediaType, "", "PATCH", taskPath(tk.ID), tok, text)
		a.expect(t, http.StatusUnsupportedMediaType, "", "POST", "/invites", tok, text)
		a.expect(t, http.StatusUnsupportedMediaType, "", "POST", "/organizations", "", rawBody{"text/plain", []byte(`{"name":"x"}`)})
		a.expect(t, http.StatusUnsupportedMediaType, "", "POST", "/signup", "", rawBody{"text/plain", []byte(`{}`)})
		a.expect(t, http.StatusUnsupportedMediaType, "", "POST", "/login", "", rawBody{"text/plain", []byte(`{}`)})
	})

	if list, _ := a.listTasks(t, tok, ""); len(list) != 1 || list[0].Version != 1 {
		t.Errorf("malformed requests changed the tasks: %+v", list)
	}
}

func testValidation(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token
	tk := a.newTask(t, tok, "target")
	// A real cursor, so that page+cursor fails only for being combined.
	for range 2 {
		a.newTask(t, tok, "filler")
	}
	_, first := a.listTasks(t, tok, "limit=1")
	cursor := nextCursor(t, first)

	cases := []struct {
		name, method, path, token string
		body                      any
		field                     string
	}{
		{"unknown_field", "POST", "/tasks", tok, map[string]any{"title": "x", "bogus": 1}, "bogus"},
		{"wrong_type", "POST", "/tasks", tok, map[string]any{"title": 5}, "title"},
		{"missing_title", "POST", "/tasks", tok, map[string]any{"description": "x"}, "title"},
		{"empty_title", "POST", "/tasks", tok, map[string]any{"title": ""}, "title"},
		{"blank_title", "POST", "/tasks", tok, map[string]any{"title": "   "}, "title"},
		{"title_201_chars", "POST", "/tasks", tok, map[string]any{"title": strings.Repeat("é", 201)}, "title"},
		{"description_10001_chars", "POST", "/tasks", tok, map[string]any{"title": "x", "description": strings.Repeat("d", 10001)}, "description"},
		{"unknown_status_on_create", "POST", "/tasks", tok, map[string]any{"title": "x", "status": "DONE"}, "status"},
		{"assignee_wrong_type", "POST", "/tasks", tok, map[string]any{"title": "x", "assignee_id": "me"}, "assignee_id"},
		{"patch_unknown_status", "PATCH", taskPath(tk.ID), tok, map[string]any{"status": "DONE"}, "status"},
		{"patch_empty_title", "PATCH", taskPath(tk.ID), tok, map[string]any{"title": " "}, "title"},
		{"patch_title_201_chars", "PATCH", taskPath(tk.ID), tok, map[string]any{"title": strings.Repeat("t", 201)}, "title"},
		{"patch_unknown_field", "PATCH", taskPath(tk.ID), tok, map[string]any{"colour": "red"}, "colour"},
		{"put_unknown_status_in_body", "PUT", taskPath(tk.ID), tok, map[string]any{"status": "DONE"}, "status"},
		{"put_unknown_status_in_query", "PUT", taskPath(tk.ID) + "?new_status=DONE", tok, nil, ""},
		{"put_lower_case_status", "PUT", taskPath(tk.ID) + "?new_status=in_progress", tok, nil, ""},
		{"limit_0", "GET", "/tasks?limit=0", tok, nil, "limit"},
		{"limit_101", "GET", "/tasks?limit=101", tok, nil, "limit"},
		{"limit_not_a_number", "GET", "/tasks?limit=ten", tok, nil, "limit"},
		{"page_0", "GET", "/tasks?page=0", tok, nil, "page"},
		{"unknown_status_in_query", "GET", "/tasks?status=DONE", tok, nil, "status"},
		{"garbage_cursor", "GET", "/tasks?cursor=garbage", tok, nil, "cursor"},
		{"page_and_cursor", "GET", "/tasks?page=2&cursor=" + url.QueryEscape(cursor), tok, nil, "page"},
		{"assignee_not_a_number", "GET", "/tasks?assignee_id=x", tok, nil, "assignee_id"},
		{"invite_unknown_role", "POST", "/invites", tok, map[string]any{"role": "OWNER"}, "role"},
		{"invite_bad_email", "POST", "/invites", tok, map[string]any{"role": "USER", "email": "not-an-email"}, "email"},
		{"role_update_unknown_role", "PATCH", userPath(tn.Admin.ID), tok, map[string]any{"role": "ROOT"}, "role"},
		{"organization_empty_name", "POST", "/organizations", "", map[string]any{"name": ""}, "name"},
		{"organization_blank_name", "POST", "/organizations", "", map[string]any{"name": "   "}, "name"},
		{"organization_name_201_chars", "POST", "/organizations", "", map[string]any{"name": strings.Repeat("n", 201)}, "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := a.expect(t, http.StatusUnprocessableEntity, "", tc.method, tc.path, tc.token, tc.body).problem(t)
			if len(p.Errors) == 0 {
				t.Errorf("422 without field errors: %+v", p)
			}
			if tc.field != "" && !slices.Contains(p.fields(), tc.field) {
				t.Errorf("422 names fields %v, want %q among them", p.fields(), tc.field)
			}
		})
	}

	t.Run("boundaries_are_accepted", func(t *testing.T) {
		if got := a.newTask(t, tok, "  padded  "); got.Title != "padded" {
			t.Errorf("title %q, want it trimmed", got.Title)
		}
		a.newTask(t, tok, strings.Repeat("é", 200))
		a.createTask(t, tok, map[string]any{"title": "x", "description": strings.Repeat("d", 10000)})
		a.listTasks(t, tok, "limit=1")
		a.listTasks(t, tok, "limit=100")
		a.expect(t, http.StatusCreated, "", "POST", "/organizations", "", map[string]any{"name": strings.Repeat("n", 199) + randomHex(1)[:1]})
	})

	t.Run("sign_up_values", func(t *testing.T) {
		code := a.invite(t, tn, "USER", "")
		for _, tc := range []struct {
			name, email, password, field string
		}{
			{"password_7_bytes", uniqueEmail("pw"), "1234567", "password"},
			{"password_73_bytes", uniqueEmail("pw"), strings.Repeat("p", 73), "password"},
			{"password_73_bytes_multibyte", uniqueEmail("pw"), strings.Repeat("é", 36) + "p", "password"},
			{"bad_email", "not-an-email", password, "email"},
			{"email_without_domain_dot", "someone@localhost", password, "email"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/signup", "",
					map[string]any{"email": tc.email, "password": tc.password, "invite_code": code}).problem(t)
				if !slices.Contains(p.fields(), tc.field) {
					t.Errorf("422 names fields %v, want %q", p.fields(), tc.field)
				}
			})
		}
		// 72 bytes is the longest password allowed; the refused attempts
		// above did not use the invite up.
		long := strings.Repeat("é", 36)
		email := uniqueEmail("pw72")
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "", map[string]any{"email": email, "password": long, "invite_code": code})
		a.expect(t, http.StatusOK, "", "POST", "/login", "", map[string]any{"email": email, "password": long})
		code = a.invite(t, tn, "USER", "")
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "",
			map[string]any{"email": uniqueEmail("pw8"), "password": "12345678", "invite_code": code})
	})
}

func testInvites(t *testing.T, a *api) {
	tn := a.newTenant(t)
	other := a.newTenant(t)
	signup := func(body map[string]any) map[string]any {
		if _, ok := body["password"]; !ok {
			body["password"] = password
		}
		return body
	}

	t.Run("invite_answer", func(t *testing.T) {
		email := uniqueEmail("Bob")
		var inv struct {
			Code      string    `json:"code"`
			Role      string    `json:"role"`
			Email     *string   `json:"email"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		a.expect(t, http.StatusCreated, "", "POST", "/invites", tn.Admin.Token, map[string]any{"role": "USER", "email": email}).into(t, &inv)
		if inv.Code == "" || inv.Role != "USER" || inv.Email == nil || *inv.Email != strings.ToLower(email) {
			t.Errorf("invite %+v: want a code, role USER and the lower-cased email", inv)
		}
		if d := time.Until(inv.ExpiresAt); d < 167*time.Hour || d > 169*time.Hour {
			t.Errorf("invite expires in %v, want 7 days", d)
		}
		a.expect(t, http.StatusCreated, "", "POST", "/invites", tn.Admin.Token, map[string]any{"role": "ADMIN"}).into(t, &inv)
		if inv.Email != nil || inv.Role != "ADMIN" {
			t.Errorf("open invite %+v: want email null and role ADMIN", inv)
		}
	})
	t.Run("signup_without_invite_code_is_403_invite_required", func(t *testing.T) {
		a.expect(t, http.StatusForbidden, "invite_required", "POST", "/signup", "", signup(map[string]any{"email": uniqueEmail("x")}))
		a.expect(t, http.StatusForbidden, "invite_required", "POST", "/signup", "", signup(map[string]any{"email": uniqueEmail("x"), "invite_code": ""}))
		// The original API's way in: naming an organization and a role.
		a.expect(t, http.StatusForbidden, "invite_required", "POST", "/signup", "",
			signup(map[string]any{"email": uniqueEmail("x"), "organization_id": tn.ID, "role": "ADMIN"}))
	})
	t.Run("wrong_code_is_403_invite_invalid", func(t *testing.T) {
		a.expect(t, http.StatusForbidden, "invite_invalid", "POST", "/signup", "",
			signup(map[string]any{"email": uniqueEmail("x"), "invite_code": "not-a-code"}))
	})
	t.Run("a_code_works_once", func(t *testing.T) {
		code := a.invite(t, tn, "USER", "")
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "", signup(map[string]any{"email": uniqueEmail("first"), "invite_code": code}))
		a.expect(t, http.StatusForbidden, "invite_invalid", "POST", "/signup", "", signup(map[string]any{"email": uniqueEmail("second"), "invite_code": code}))
	})
	t.Run("the_admin_invite_code_works_once", func(t *testing.T) {
		var org struct {
			Code string `json:"admin_invite_code"`
		}
		a.expect(t, http.StatusCreated, "", "POST", "/organizations", "", map[string]any{"name": unique("once")}).into(t, &org)
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "", signup(map[string]any{"email": uniqueEmail("a1"), "invite_code": org.Code}))
		a.expect(t, http.StatusForbidden, "invite_invalid", "POST", "/signup", "", signup(map[string]any{"email": uniqueEmail("a2"), "invite_code": org.Code}))
	})
	t.Run("an_email_bound_invite_is_for_that_email_only", func(t *testing.T) {
		email := uniqueEmail("bound")
		code := a.invite(t, tn, "USER", email)
		a.expect(t, http.StatusForbidden, "", "POST", "/signup", "", signup(map[string]any{"email": uniqueEmail("intruder"), "invite_code": code}))
		var u userOut
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "", signup(map[string]any{"email": strings.ToUpper(email), "invite_code": code})).into(t, &u)
		if u.Email != strings.ToLower(email) || u.Role != "USER" || u.OrganizationID != tn.ID {
			t.Errorf("signed up %+v, want %s as USER of %d", u, strings.ToLower(email), tn.ID)
		}
	})
	t.Run("organization_and_role_must_match_the_invite", func(t *testing.T) {
		code := a.invite(t, tn, "USER", "")
		for _, body := range []map[string]any{
			{"organization_id": other.ID},
			{"role": "ADMIN"},
			{"organization_id": tn.ID, "role": "ADMIN"},
			{"organization_id": other.ID, "role": "USER"},
		} {
			body["email"], body["invite_code"] = uniqueEmail("mismatch"), code
			a.expect(t, http.StatusForbidden, "", "POST", "/signup", "", signup(body))
		}
		var u userOut
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "",
			signup(map[string]any{"email": uniqueEmail("match"), "invite_code": code, "organization_id": tn.ID, "role": "USER"})).into(t, &u)
		if u.Role != "USER" || u.OrganizationID != tn.ID {
			t.Errorf("signed up %+v, want USER of %d", u, tn.ID)
		}
	})
	t.Run("the_role_comes_from_the_invite", func(t *testing.T) {
		u := a.addMember(t, tn, "USER")
		var me userOut
		a.expect(t, http.StatusOK, "", "GET", "/me", u.Token, nil).into(t, &me)
		if me.Role != "USER" || me.OrganizationID != tn.ID {
			t.Errorf("GET /me = %+v, want USER of %d", me, tn.ID)
		}
		adm := a.addMember(t, tn, "ADMIN")
		a.newTask(t, adm.Token, "by the invited admin")
	})
	t.Run("email_is_unique_whatever_its_case", func(t *testing.T) {
		code := a.invite(t, other, "USER", "")
		a.expect(t, http.StatusConflict, "email_taken", "POST", "/signup", "",
			signup(map[string]any{"email": strings.ToUpper(tn.Admin.Email), "invite_code": code}))
		a.expect(t, http.StatusConflict, "email_taken", "POST", "/signup", "",
			signup(map[string]any{"email": "  " + tn.Admin.Email + " ", "invite_code": code}))
	})
}

// testCrossTenant uses B's ids from A's token everywhere an id can go:
// each behaves as if it did not exist, and nothing of B's reaches A.
func testCrossTenant(t *testing.T, a *api) {
	tA, tB := a.newTenant(t), a.newTenant(t)
	userA := a.addMember(t, tA, "USER")
	userB := a.addMember(t, tB, "USER")
	secret := unique("B-secret-title")
	taskB := a.createTask(t, tB.Admin.Token, map[string]any{"title": secret, "assignee_id": userB.ID})
	taskA := a.createTask(t, tA.Admin.Token, map[string]any{"title": "A's task", "assignee_id": userA.ID})

	var seen []reply
	doA := func(t *testing.T, status int, method, path string, body any, headers ...string) reply {
		t.Helper()
		r := a.expect(t, status, "", method, path, tA.Admin.Token, body, headers...)
		seen = append(seen, r)
		return r
	}
	const missing = 9_000_000_000_001

	t.Run("b_task_in_the_path_is_404", func(t *testing.T) {
		doA(t, http.StatusNotFound, "GET", taskPath(taskB.ID), nil)
		doA(t, http.StatusNotFound, "PATCH", taskPath(taskB.ID), map[string]any{"title": "hijacked"})
		doA(t, http.StatusNotFound, "PATCH", taskPath(taskB.ID), map[string]any{"title": "hijacked"}, "If-Match", `"1"`)
		doA(t, http.StatusNotFound, "PUT", taskPath(taskB.ID)+"?new_status=IN_PROGRESS", nil)
		doA(t, http.StatusNotFound, "PUT", taskPath(taskB.ID), map[string]any{"status": "IN_PROGRESS"})
		doA(t, http.StatusNotFound, "DELETE", taskPath(taskB.ID), nil)
		doA(t, http.StatusNotFound, "DELETE", taskPath(taskB.ID), nil, "If-Match", `"1"`)
		// As if it did not exist: the same answer as an id nobody has.
		gotB := doA(t, http.StatusNotFound, "GET", taskPath(taskB.ID), nil).problem(t)
		gotNone := doA(t, http.StatusNotFound, "GET", taskPath(missing), nil).problem(t)
		if gotB.Code != gotNone.Code || gotB.Detail != gotNone.Detail {
			t.Errorf("B's task answers %+v, a missing one %+v: they must not differ", gotB, gotNone)
		}
	})
	t.Run("b_user_in_the_path_is_404", func(t *testing.T) {
		doA(t, http.StatusNotFound, "PATCH", userPath(userB.ID), map[string]any{"role": "ADMIN"})
		doA(t, http.StatusNotFound, "PATCH", userPath(tB.Admin.ID), map[string]any{"role": "USER"})
		doA(t, http.StatusNotFound, "DELETE", userPath(userB.ID), nil)
		doA(t, http.StatusNotFound, "DELETE", userPath(tB.Admin.ID), nil)
	})
	t.Run("b_user_in_the_query_matches_nothing", func(t *testing.T) {
		r := doA(t, http.StatusOK, "GET", "/tasks?assignee_id="+strconv.FormatInt(userB.ID, 10), nil)
		if strings.TrimSpace(string(r.body)) != "[]" {
			t.Errorf("GET /tasks?assignee_id=<B's user> = %s, want []", r.body)
		}
	})
	t.Run("b_user_in_the_body_is_refused_like_a_missing_one", func(t *testing.T) {
		viaB := doA(t, http.StatusUnprocessableEntity, "POST", "/tasks", map[string]any{"title": "assign to B", "assignee_id": userB.ID}).problem(t)
		viaNone := doA(t, http.StatusUnprocessableEntity, "POST", "/tasks", map[string]any{"title": "assign to nobody", "assignee_id": missing}).problem(t)
		if viaB.Code != viaNone.Code || viaB.Detail != viaNone.Detail {
			t.Errorf("B's user as assignee answers %+v, a missing user %+v: they must not differ", viaB, viaNone)
		}
		doA(t, http.StatusUnprocessableEntity, "PATCH", taskPath(taskA.ID), map[string]any{"assignee_id": userB.ID})
		if got := a.getTask(t, tA.Admin.Token, taskA.ID); got.AssigneeID == nil || *got.AssigneeID != userA.ID || got.Version != 1 {
			t.Errorf("A's task after the refused reassignment: %+v", got)
		}
	})
	t.Run("lists_show_only_the_own_organization", func(t *testing.T) {
		var members []userOut
		doA(t, http.StatusOK, "GET", "/users", nil).into(t, &members)
		got := make([]int64, 0, len(members))
		for _, m := range members {
			got = append(got, m.ID)
			if m.OrganizationID != tA.ID {
				t.Errorf("GET /users lists %+v of another organization", m)
			}
		}
		slices.Sort(got)
		want := []int64{tA.Admin.ID, userA.ID}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("GET /users = %v, want A's members %v", got, want)
		}
		var list []task
		doA(t, http.StatusOK, "GET", "/tasks?limit=100", nil).into(t, &list)
		if len(list) != 1 || list[0].ID != taskA.ID {
			t.Errorf("A's list = %v, want only %d", ids(list), taskA.ID)
		}
		doA(t, http.StatusOK, "GET", "/me", nil)
	})
	t.Run("b_is_untouched", func(t *testing.T) {
		got := a.getTask(t, tB.Admin.Token, taskB.ID)
		if got.Title != secret || got.Version != 1 || got.Status != "CREATED" || got.AssigneeID == nil || *got.AssigneeID != userB.ID {
			t.Errorf("B's task after A's attempts: %+v", got)
		}
		var members []userOut
		a.expect(t, http.StatusOK, "", "GET", "/users", tB.Admin.Token, nil).into(t, &members)
		for _, m := range members {
			if (m.ID == userB.ID && m.Role != "USER") || (m.ID == tB.Admin.ID && m.Role != "ADMIN") {
				t.Errorf("B's member changed: %+v", m)
			}
		}
		if len(members) != 2 {
			t.Errorf("B's members = %+v, want 2", members)
		}
	})
	t.Run("nothing_of_b_in_any_answer_to_a", func(t *testing.T) {
		// Ids are compared by kind: on a fresh database organization 1,
		// user 1 and task 1 all exist, in different organizations.
		bIDs := map[string]map[float64]bool{
			"organization": {float64(tB.ID): true},
			"user":         {float64(userB.ID): true, float64(tB.Admin.ID): true},
			"task":         {float64(taskB.ID): true},
		}
		for _, r := range seen {
			body := string(r.body)
			for _, s := range []string{secret, tB.Name, userB.Email, tB.Admin.Email} {
				if strings.Contains(body, s) {
					t.Errorf("%s leaks %q", r, s)
				}
			}
			var v any
			if json.Unmarshal(r.body, &v) == nil {
				walkIDs(v, func(kind string, id float64) {
					if bIDs[kind][id] {
						t.Errorf("%s leaks B's %s id %v", r, kind, id)
					}
				})
			}
		}
		if len(seen) < 10 {
			t.Fatalf("only %d answers were recorded", len(seen))
		}
	})
}

// walkIDs calls fn with the kind (organization, user, task) of every id
// in v: an object's own "id" is a task's when it has a title and a
// user's when it has an email; organization_id names an organization;
// assignee_id and created_by name users.
func walkIDs(v any, fn func(kind string, id float64)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			n, ok := val.(float64)
			if !ok {
				walkIDs(val, fn)
				continue
			}
			switch {
			case k == "organization_id":
				fn("organization", n)
			case k == "assignee_id" || k == "created_by" || k == "user_id":
				fn("user", n)
			case k == "id" && x["title"] != nil:
				fn("task", n)
			case k == "id" && x["email"] != nil:
				fn("user", n)
			case k == "id" && x["admin_invite_code"] != nil:
				fn("organization", n)
			}
		}
	case []any:
		for _, e := range x {
			walkIDs(e, fn)
		}
	}
}

// testMassAssignment: clients never set ids, the tenant, the author,
// timestamps or the version, nor pick their role or organization.
func testMassAssignment(t *testing.T, a *api) {
	tn, other := a.newTenant(t), a.newTenant(t)
	tok := tn.Admin.Token
	tk := a.newTask(t, tok, "original")
	forbidden := map[string]any{
		"organization_id": other.ID,
		"id":              tk.ID + 1000,
		"version":         42,
		"created_by":      other.Admin.ID,
		"created_at":      "2020-01-01T00:00:00Z",
		"updated_at":      "2020-01-01T00:00:00Z",
		"completed_at":    "2020-01-01T00:00:00Z",
	}
	for field, value := range forbidden {
		t.Run("create_with_"+field, func(t *testing.T) {
			r := a.do(t, "POST", "/tasks", tok, map[string]any{"title": "smuggled " + field, field: value})
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s: want a 4xx", r)
			}
		})
		t.Run("patch_with_"+field, func(t *testing.T) {
			r := a.do(t, "PATCH", taskPath(tk.ID), tok, map[string]any{"title": "smuggled " + field, field: value})
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s: want a 4xx", r)
			}
		})
	}
	if list, _ := a.listTasks(t, tok, ""); len(list) != 1 || list[0].ID != tk.ID {
		t.Errorf("tasks after the refused creations: %v, want only %d", ids(list), tk.ID)
	}
	got := a.getTask(t, tok, tk.ID)
	if got.Title != "original" || got.Version != 1 || got.OrganizationID != tn.ID || got.CreatedBy != tn.Admin.ID || !got.CreatedAt.Equal(tk.CreatedAt) {
		t.Errorf("task after the refused patches: %+v, want %+v", got, tk)
	}
	if list, _ := a.listTasks(t, other.Admin.Token, ""); len(list) != 0 {
		t.Errorf("the other organization gained tasks: %v", ids(list))
	}

	t.Run("signup_cannot_pick_role_or_organization", func(t *testing.T) {
		code := a.invite(t, tn, "USER", "")
		a.expect(t, http.StatusForbidden, "", "POST", "/signup", "",
			map[string]any{"email": uniqueEmail("climber"), "password": password, "invite_code": code, "role": "ADMIN"})
		a.expect(t, http.StatusForbidden, "", "POST", "/signup", "",
			map[string]any{"email": uniqueEmail("climber"), "password": password, "invite_code": code, "organization_id": other.ID})
		for _, field := range []string{"id", "created_at"} {
			r := a.do(t, "POST", "/signup", "", map[string]any{"email": uniqueEmail("climber"), "password": password, "invite_code": code, field: 1})
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s: want a 4xx", r)
			}
		}
	})
	t.Run("invites_and_role_updates_take_no_organization", func(t *testing.T) {
		user := a.addMember(t, tn, "USER")
		for _, tc := range []struct {
			method, path string
			body         map[string]any
		}{
			{"POST", "/invites", map[string]any{"role": "ADMIN", "organization_id": other.ID}},
			{"PATCH", userPath(user.ID), map[string]any{"role": "USER", "organization_id": other.ID}},
			{"PATCH", userPath(user.ID), map[string]any{"role": "USER", "email": "new@example.test"}},
		} {
			r := a.do(t, tc.method, tc.path, tok, tc.body)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s: want a 4xx", r)
			}
		}
		var members []userOut
		a.expect(t, http.StatusOK, "", "GET", "/users", other.Admin.Token, nil).into(t, &members)
		if len(members) != 1 {
			t.Errorf("the other organization's members: %+v", members)
		}
	})
}

// testMembershipChanges: role changes and removals act on the next request.
func testMembershipChanges(t *testing.T, a *api) {
	// A role change ends the member's sessions (issue 4): their old tokens
	// lose every right at once, and a new login carries the new role.
	t.Run("a_demoted_admin_loses_admin_rights_at_once", func(t *testing.T) {
		tn := a.newTenant(t)
		second := a.addMember(t, tn, "ADMIN")
		a.newTask(t, second.Token, "while still admin")
		var u userOut
		a.expect(t, http.StatusOK, "", "PATCH", userPath(second.ID), tn.Admin.Token, map[string]any{"role": "USER"}).into(t, &u)
		if u.Role != "USER" || u.ID != second.ID {
			t.Fatalf("PATCH role answered %+v", u)
		}
		a.expect(t, http.StatusUnauthorized, "", "POST", "/tasks", second.Token, map[string]any{"title": "after demotion"})
		a.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", second.Token, nil)
		again := a.login(t, second.Email)
		a.expect(t, http.StatusForbidden, "", "POST", "/tasks", again, map[string]any{"title": "after demotion"})
		a.expect(t, http.StatusForbidden, "", "POST", "/invites", again, map[string]any{"role": "ADMIN"})
		a.expect(t, http.StatusForbidden, "", "PATCH", userPath(second.ID), again, map[string]any{"role": "ADMIN"})
		a.listTasks(t, again, "")
		var me userOut
		a.expect(t, http.StatusOK, "", "GET", "/me", again, nil).into(t, &me)
		if me.Role != "USER" {
			t.Errorf("GET /me role %q after demotion", me.Role)
		}
	})
	t.Run("a_promoted_user_gains_admin_rights_at_the_next_login", func(t *testing.T) {
		tn := a.newTenant(t)
		user := a.addMember(t, tn, "USER")
		a.expect(t, http.StatusForbidden, "", "POST", "/tasks", user.Token, map[string]any{"title": "before"})
		a.expect(t, http.StatusOK, "", "PATCH", userPath(user.ID), tn.Admin.Token, map[string]any{"role": "ADMIN"})
		a.expect(t, http.StatusUnauthorized, "", "POST", "/tasks", user.Token, map[string]any{"title": "old token"})
		a.newTask(t, a.login(t, user.Email), "after promotion")
	})
	t.Run("a_removed_member_is_unauthenticated_at_once", func(t *testing.T) {
		tn := a.newTenant(t)
		user := a.addMember(t, tn, "USER")
		second := a.addMember(t, tn, "ADMIN")
		a.listTasks(t, user.Token, "")
		a.expect(t, http.StatusNoContent, "", "DELETE", userPath(user.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusNoContent, "", "DELETE", userPath(second.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", user.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", user.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "POST", "/tasks", second.Token, map[string]any{"title": "ghost"})
		a.expect(t, http.StatusUnauthorized, "", "POST", "/login", "", map[string]any{"email": user.Email, "password": password})
		var members []userOut
		a.expect(t, http.StatusOK, "", "GET", "/users", tn.Admin.Token, nil).into(t, &members)
		if len(members) != 1 || members[0].ID != tn.Admin.ID {
			t.Errorf("members after removals: %+v", members)
		}
		a.expect(t, http.StatusNotFound, "", "DELETE", userPath(user.ID), tn.Admin.Token, nil)
	})
	t.Run("the_last_admin_stays", func(t *testing.T) {
		tn := a.newTenant(t)
		user := a.addMember(t, tn, "USER")
		a.expect(t, http.StatusConflict, "last_admin", "PATCH", userPath(tn.Admin.ID), tn.Admin.Token, map[string]any{"role": "USER"})
		a.expect(t, http.StatusConflict, "last_admin", "DELETE", userPath(tn.Admin.ID), tn.Admin.Token, nil)
		a.newTask(t, tn.Admin.Token, "still admin")

		// With two admins either may go, but not both.
		second := a.addMember(t, tn, "ADMIN")
		a.expect(t, http.StatusOK, "", "PATCH", userPath(tn.Admin.ID), second.Token, map[string]any{"role": "USER"})
		a.expect(t, http.StatusConflict, "last_admin", "PATCH", userPath(second.ID), second.Token, map[string]any{"role": "USER"})
		a.expect(t, http.StatusConflict, "last_admin", "DELETE", userPath(second.ID), second.Token, nil)
		a.expect(t, http.StatusNoContent, "", "DELETE", userPath(user.ID), second.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "POST", "/tasks", tn.Admin.Token, map[string]any{"title": "demoted"})
		a.expect(t, http.StatusForbidden, "", "POST", "/tasks", a.login(t, tn.Admin.Email), map[string]any{"title": "demoted"})
	})
}

var linkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

// nextLink returns the path of the next page from the Link header, or "".
func nextLink(t *testing.T, r reply) string {
	t.Helper()
	h := r.header.Get("Link")
	if h == "" {
		return ""
	}
	m := linkNext.FindStringSubmatch(h)
	if m == nil {
		t.Fatalf("%s: Link %q has no rel=next", r, h)
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatalf("Link target %q: %v", m[1], err)
	}
	return u.RequestURI()
}

func nextCursor(t *testing.T, r reply) string {
	t.Helper()
	link := nextLink(t, r)
	if link == "" {
		t.Fatalf("%s: no Link rel=next", r)
	}
	u, _ := url.Parse(link)
	c := u.Query().Get("cursor")
	if c == "" {
		t.Fatalf("Link %q has no cursor", link)
	}
	return c
}

// walk follows Link rel=next from path and returns every task seen and
// the number of pages.
func walk(t *testing.T, a *api, token, path string) ([]task, int) {
	t.Helper()
	var all []task
	pages := 0
	for path != "" {
		pages++
		if pages > 50 {
			t.Fatalf("more than 50 pages: the Link chain does not end")
		}
		r := a.expect(t, http.StatusOK, "", "GET", path, token, nil)
		var page []task
		r.into(t, &page)
		all = append(all, page...)
		path = nextLink(t, r)
	}
	return all, pages
}

func testPagination(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token
	assignee := a.addMember(t, tn, "USER")
	var created []task
	for i := 1; i <= 25; i++ {
		body := map[string]any{"title": fmt.Sprintf("task %02d", i)}
		if i%3 == 0 {
			body["assignee_id"] = assignee.ID
		}
		created = append(created, a.createTask(t, tok, body))
	}
	inProgress := map[int64]bool{}
	for i, tk := range created {
		if (i+1)%4 == 0 {
			a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", tok, nil)
			inProgress[tk.ID] = true
		}
	}
	newestFirst := ids(created)
	slices.Reverse(newestFirst)
	filter := func(keep func(int64) bool) []int64 {
		var out []int64
		for _, id := range newestFirst {
			if keep(id) {
				out = append(out, id)
			}
		}
		return out
	}
	assigned := map[int64]bool{}
	for i, tk := range created {
		if (i+1)%3 == 0 {
			assigned[tk.ID] = true
		}
	}

	t.Run("pages_newest_first_with_next_links", func(t *testing.T) {
		for page, want := range [][]int64{newestFirst[:10], newestFirst[10:20], newestFirst[20:]} {
			got, r := a.listTasks(t, tok, fmt.Sprintf("limit=10&page=%d", page+1))
			if !slices.Equal(ids(got), want) {
				t.Errorf("page %d = %v, want %v", page+1, ids(got), want)
			}
			link := nextLink(t, r)
			if last := page == 2; last != (link == "") {
				t.Errorf("page %d: Link %q (want a next link on pages 1 and 2 only)", page+1, r.header.Get("Link"))
			}
			if link != "" && !strings.Contains(link, "limit=10") {
				t.Errorf("page %d: next link %q lost the limit", page+1, link)
			}
		}
		if got, r := a.listTasks(t, tok, "limit=10&page=4"); len(got) != 0 || r.header.Get("Link") != "" {
			t.Errorf("page 4 = %v with Link %q, want [] and none", ids(got), r.header.Get("Link"))
		}
		if got, _ := a.listTasks(t, tok, ""); !slices.Equal(ids(got), newestFirst[:10]) {
			t.Errorf("default page = %v, want the 10 newest", ids(got))
		}
	})
	t.Run("following_the_links_walks_every_task_once", func(t *testing.T) {
		all, pages := walk(t, a, tok, "/tasks?limit=10")
		if !slices.Equal(ids(all), newestFirst) || pages != 3 {
			t.Errorf("walk = %v in %d pages, want %v in 3", ids(all), pages, newestFirst)
		}
		all, _ = walk(t, a, tok, "/tasks?limit=7&page=1")
		if !slices.Equal(ids(all), newestFirst) {
			t.Errorf("walk from page 1 = %v, want %v", ids(all), newestFirst)
		}
	})
	t.Run("status_filter", func(t *testing.T) {
		got, _ := a.listTasks(t, tok, "status=IN_PROGRESS&limit=100")
		if want := filter(func(id int64) bool { return inProgress[id] }); !slices.Equal(ids(got), want) {
			t.Errorf("IN_PROGRESS = %v, want %v", ids(got), want)
		}
		got, _ = a.listTasks(t, tok, "status=CREATED&limit=100")
		if want := filter(func(id int64) bool { return !inProgress[id] }); !slices.Equal(ids(got), want) {
			t.Errorf("CREATED = %v, want %v", ids(got), want)
		}
		if got, _ = a.listTasks(t, tok, "status=COMPLETED"); len(got) != 0 {
			t.Errorf("COMPLETED = %v, want []", ids(got))
		}
	})
	t.Run("assignee_filter", func(t *testing.T) {
		got, _ := a.listTasks(t, tok, "assignee_id="+strconv.FormatInt(assignee.ID, 10)+"&limit=100")
		if want := filter(func(id int64) bool { return assigned[id] }); !slices.Equal(ids(got), want) {
			t.Errorf("assigned = %v, want %v", ids(got), want)
		}
		for _, tk := range got {
			if tk.AssigneeID == nil || *tk.AssigneeID != assignee.ID {
				t.Errorf("task %d in the assignee filter has assignee %v", tk.ID, tk.AssigneeID)
			}
		}
	})
	t.Run("cursor_keeps_the_filters", func(t *testing.T) {
		all, pages := walk(t, a, tok, "/tasks?status=IN_PROGRESS&limit=4")
		if want := filter(func(id int64) bool { return inProgress[id] }); !slices.Equal(ids(all), want) || pages != 2 {
			t.Errorf("IN_PROGRESS walk = %v in %d pages, want %v in 2", ids(all), pages, want)
		}
		all, _ = walk(t, a, tok, "/tasks?assignee_id="+strconv.FormatInt(assignee.ID, 10)+"&limit=3")
		if want := filter(func(id int64) bool { return assigned[id] }); !slices.Equal(ids(all), want) {
			t.Errorf("assignee walk = %v, want %v", ids(all), want)
		}
		all, _ = walk(t, a, tok, "/tasks?status=CREATED&assignee_id="+strconv.FormatInt(assignee.ID, 10)+"&limit=2")
		if want := filter(func(id int64) bool { return assigned[id] && !inProgress[id] }); !slices.Equal(ids(all), want) {
			t.Errorf("CREATED+assignee walk = %v, want %v", ids(all), want)
		}
	})
}

// testCacheFreshness warms the list cache before every write and lists
// again right after: each write is visible at once.
func testCacheFreshness(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token
	member := a.addMember(t, tn, "USER")
	queries := []string{"", "limit=5", "status=CREATED", "status=IN_PROGRESS", "page=1&limit=10"}
	warm := func() {
		for _, q := range queries {
			a.listTasks(t, tok, q)
			a.listTasks(t, member.Token, q)
		}
	}
	list := func(q string) []task {
		got, _ := a.listTasks(t, member.Token, q)
		return got
	}

	warm()
	tk := a.createTask(t, tok, map[string]any{"title": "fresh", "assignee_id": member.ID})
	if got := list(""); len(got) != 1 || got[0].ID != tk.ID {
		t.Fatalf("after create the list is %v, want [%d]", ids(got), tk.ID)
	}
	if got := list("status=CREATED"); len(got) != 1 {
		t.Fatalf("after create the CREATED list is %v", ids(got))
	}

	warm()
	a.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tok, map[string]any{"title": "renamed"})
	if got := list(""); len(got) != 1 || got[0].Title != "renamed" || got[0].Version != 2 {
		t.Fatalf("after patch the list shows %+v", got)
	}

	warm()
	a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", tok, nil)
	if got := list("status=IN_PROGRESS"); len(got) != 1 || got[0].Status != "IN_PROGRESS" {
		t.Fatalf("after put the IN_PROGRESS list is %+v", got)
	}
	if got := list("status=CREATED"); len(got) != 0 {
		t.Fatalf("after put the CREATED list is %v", ids(got))
	}

	warm()
	a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID), tok, map[string]any{"status": "COMPLETED"})
	if got := list(""); len(got) != 1 || got[0].Status != "COMPLETED" {
		t.Fatalf("after put (body) the list shows %+v", got)
	}

	// Removing a member unassigns their tasks: lists must show that too.
	warm()
	a.expect(t, http.StatusNoContent, "", "DELETE", userPath(member.ID), tok, nil)
	if got, _ := a.listTasks(t, tok, ""); len(got) != 1 || got[0].AssigneeID != nil {
		t.Fatalf("after removing the assignee the list shows %+v", got)
	}

	for _, q := range queries {
		a.listTasks(t, tok, q)
	}
	a.expect(t, http.StatusNoContent, "", "DELETE", taskPath(tk.ID), tok, nil)
	for _, q := range queries {
		if got, _ := a.listTasks(t, tok, q); len(got) != 0 {
			t.Fatalf("after delete the list %q is %v", q, ids(got))
		}
	}
}

// testConcurrentTransitions: twenty clients race the same transition; one
// wins, the others get 409, and the version moves once.
func testConcurrentTransitions(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tk := a.newTask(t, tn.Admin.Token, "contested")
	const n = 20
	type outcome struct {
		r          reply
		violations []string
		err        error
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, v, err := a.exchange("PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", tn.Admin.Token, nil)
			results[i] = outcome{r, v, err}
		})
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, o := range results {
		if o.err != nil {
			t.Fatal(o.err)
		}
		for _, v := range o.violations {
			t.Errorf("%s: %s", o.r, v)
		}
		counts[o.r.status]++
		if o.r.status == http.StatusConflict {
			if code := o.r.problem(t).Code; code != "invalid_status_transition" {
				t.Errorf("409 with code %q", code)
			}
		}
	}
	if counts[http.StatusOK] != 1 || counts[http.StatusConflict] != n-1 {
		t.Errorf("statuses %v, want one 200 and %d 409", counts, n-1)
	}
	if got := a.getTask(t, tn.Admin.Token, tk.ID); got.Version != 2 || got.Status != "IN_PROGRESS" {
		t.Errorf("after the race the task is %s v%d, want IN_PROGRESS v2", got.Status, got.Version)
	}
}

func testOperations(t *testing.T, a *api) {
	t.Run("health", func(t *testing.T) {
		var h map[string]any
		a.expect(t, http.StatusOK, "", "GET", "/health", "", nil).into(t, &h)
		if len(h) != 1 || h["status"] != "ok" {
			t.Errorf(`GET /health = %v, want {"status":"ok"}`, h)
		}
	})
	t.Run("ready", func(t *testing.T) {
		var rd struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		a.expect(t, http.StatusOK, "", "GET", "/ready", "", nil).into(t, &rd)
		if rd.Status != "ok" || rd.Checks["database"] != "ok" {
			t.Errorf("GET /ready = %+v, want ok with the database ok", rd)
		}
		if a.cfg.CacheBackend == "redis" && rd.Checks["redis"] != "ok" {
			t.Errorf("GET /ready = %+v, want redis checked", rd)
		}
	})
	t.Run("root_links", func(t *testing.T) {
		m := a.expect(t, http.StatusOK, "", "GET", "/", "", nil).obj(t)
		if m["name"] == "" || m["version"] != "e2e-test" || m["docs"] != "/docs" || m["health"] != "/health" {
			t.Errorf("GET / = %v, want the name, the version and links to /docs and /health", m)
		}
	})
	t.Run("openapi_document", func(t *testing.T) {
		r := a.expect(t, http.StatusOK, "", "GET", "/openapi.json", "", nil)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
		}
		m := r.obj(t)
		if v, _ := m["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
			t.Errorf("openapi = %v, want 3.1.x", m["openapi"])
		}
	})
	t.Run("docs_and_their_assets", func(t *testing.T) {
		r := a.expect(t, http.StatusOK, "", "GET", "/docs", "", nil)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /docs Content-Type %q, want text/html", r.header.Get("Content-Type"))
		}
		refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(r.body), -1)
		if len(refs) < 2 {
			t.Fatalf("the docs page references %d assets: %s", len(refs), r.body)
		}
		for _, m := range refs {
			ref := m[1]
			if strings.Contains(ref, "://") || strings.HasPrefix(ref, "//") {
				t.Errorf("the docs page loads %q from another host (no CDN allowed)", ref)
				continue
			}
			u, err := url.Parse(ref)
			if err != nil {
				t.Errorf("asset %q: %v", ref, err)
				continue
			}
			path := u.Path
			if !strings.HasPrefix(path, "/") {
				path = "/docs/" + path
			}
			asset := a.undocumented(t, "GET", path)
			if asset.status != http.StatusOK || len(asset.body) == 0 {
				t.Errorf("asset %s: status %d, %d bytes", path, asset.status, len(asset.body))
			}
		}
	})
	// An unknown route does not exist for anyone: 404, with or without a
	// token (not 401: there is nothing to authenticate for).
	t.Run("unknown_routes_are_404_problems", func(t *testing.T) {
		for _, path := range []string{"/nope", "/tasks/1/comments", "/docs/nope.js"} {
			r := a.undocumented(t, "GET", path)
			if r.status != http.StatusNotFound || r.problem(t).Code != "not_found" {
				t.Errorf("%s: want 404 not_found", r)
			}
		}
		tn := a.newTenant(t)
		r, violations, err := a.exchange("GET", "/nope", tn.Admin.Token, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusNotFound {
			t.Errorf("%s: want 404", r)
		}
		for _, v := range violations {
			if !strings.Contains(v, "OpenAPI") { // the route is undocumented by definition
				t.Errorf("%s: %s", r, v)
			}
		}
	})
	// A path that exists refuses a method it does not serve with 405 and
	// Allow (RFC 9110), with or without a token: the path is public
	// knowledge, there is nothing to authenticate for. OPTIONS names the
	// same methods with 204. An unknown path stays 404 for every method.
	t.Run("methods_a_path_does_not_serve_are_405_with_allow", func(t *testing.T) {
		tn := a.newTenant(t)
		for _, tc := range []struct{ method, path, allow string }{
			{"DELETE", "/me", "GET, HEAD, OPTIONS"},
			{"TRACE", "/me", "GET, HEAD, OPTIONS"},
			{"PUT", "/users", "GET, HEAD, OPTIONS"},
			{"GET", "/login", "POST, OPTIONS"},
		} {
			for _, token := range []string{"", tn.Admin.Token} {
				r, violations, err := a.exchange(tc.method, tc.path, token, nil)
				if err != nil {
					t.Fatal(err)
				}
				if r.status != http.StatusMethodNotAllowed || r.problem(t).Code != "method_not_allowed" {
					t.Errorf("%s: want 405 method_not_allowed", r)
				}
				if got := r.header.Get("Allow"); got != tc.allow {
					t.Errorf("%s: Allow %q, want %q", r, got, tc.allow)
				}
				for _, v := range violations {
					if !strings.Contains(v, "OpenAPI") { // the method is undocumented by definition
						t.Errorf("%s: %s", r, v)
					}
				}
			}
		}
		r := a.undocumented(t, "OPTIONS", "/tasks/1")
		if r.status != http.StatusNoContent || r.header.Get("Allow") != "GET, HEAD, PUT, DELETE, PATCH, OPTIONS" {
			t.Errorf("%s: want 204 with Allow naming the methods of /tasks/{id}, got Allow %q", r, r.header.Get("Allow"))
		}
		for _, m := range []string{"DELETE", "OPTIONS"} {
			if r := a.undocumented(t, m, "/nope"); r.status != http.StatusNotFound {
				t.Errorf("%s: want 404", r)
			}
		}
	})
	// A problem's type is a page about its code: following the type of a
	// real error answer gives 200 and the same code.
	t.Run("problem_types_resolve_to_a_page", func(t *testing.T) {
		tn := a.newTenant(t)
		for _, r := range []reply{
			a.expect(t, http.StatusNotFound, "task_not_found", "GET", taskPath(9_000_000_000_003), tn.Admin.Token, nil),
			a.expect(t, http.StatusUnauthorized, "unauthenticated", "GET", "/tasks", "", nil),
			a.expect(t, http.StatusUnprocessableEntity, "validation_failed", "POST", "/tasks", tn.Admin.Token, map[string]any{"title": ""}),
			a.expect(t, http.StatusBadRequest, "malformed_json", "POST", "/tasks", tn.Admin.Token, "{"),
			a.undocumented(t, "DELETE", "/me"),
		} {
			p := r.problem(t)
			page := a.undocumented(t, "GET", p.Type)
			var got struct{ Code, Title, Description string }
			page.into(t, &got)
			if page.status != http.StatusOK || got.Code != p.Code || got.Title != p.Title || got.Description == "" {
				t.Errorf("%s: its type %s answers %s", r, p.Type, page)
			}
		}
		if r := a.undocumented(t, "GET", "/problems/no-such-code"); r.status != http.StatusNotFound {
			t.Errorf("%s: want 404", r)
		}
	})
}

func testRequestID(t *testing.T, a *api) {
	tn := a.newTenant(t)
	sane := "e2e-" + randomHex(8) + "_a.b:c"
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/health", ""},
		{"GET", "/tasks", tn.Admin.Token},
		{"GET", taskPath(9_000_000_000_002), tn.Admin.Token},
		{"GET", "/tasks", "garbage"},
	} {
		r := a.do(t, tc.method, tc.path, tc.token, nil, "X-Request-ID", sane)
		if got := r.header.Get("X-Request-ID"); got != sane {
			t.Errorf("%s: X-Request-ID %q, want the client's %q", r, got, sane)
		}
	}
	for name, insane := range map[string]string{
		"too_long":    strings.Repeat("a", 300),
		"with_spaces": "has spaces in it",
		"with_quotes": `"quoted"`,
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/health", "/tasks/1"} {
				r := a.do(t, "GET", path, "", nil, "X-Request-ID", insane)
				if got := r.header.Get("X-Request-ID"); got == insane || got == "" {
					t.Errorf("%s: X-Request-ID %q, want a new id instead of the client's", r, got)
				}
			}
		})
	}
	r1 := a.do(t, "GET", "/health", "", nil)
	r2 := a.do(t, "GET", "/health", "", nil)
	if r1.header.Get("X-Request-ID") == r2.header.Get("X-Request-ID") {
		t.Errorf("two requests got the same generated id %q", r1.header.Get("X-Request-ID"))
	}
}

// TestAPI_Redis_ReplicasSeeEachOthersWrites runs two servers on one
// database and one Redis (a single node, then a cluster): a write through one is visible at once in a
// list through the other, even right after the other cached that list.
func TestAPI_Redis_ReplicasSeeEachOthersWrites(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"redis", "redis-cluster"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testReplicasSeeEachOthersWrites(t, backend)
		})
	}
}

func testReplicasSeeEachOthersWrites(t *testing.T, backend string) {
	dbURL := newDatabase(t)
	cfg1 := testConfig(t, backend, dbURL)
	s1 := startServer(t, cfg1)
	cfg2 := *cfg1
	s2 := startServer(t, &cfg2) // same key: tokens work on both

	tn := s1.newTenant(t)
	tok := tn.Admin.Token
	list2 := func() []task {
		got, _ := s2.listTasks(t, tok, "")
		return got
	}
	if got := list2(); len(got) != 0 {
		t.Fatalf("replica 2 lists %v before any write", ids(got))
	}
	tk := s1.newTask(t, tok, "through replica 1")
	if got := list2(); len(got) != 1 || got[0].ID != tk.ID {
		t.Fatalf("replica 2 lists %v after a create through replica 1, want [%d]", ids(got), tk.ID)
	}
	s1.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tok, map[string]any{"title": "renamed on 1"})
	if got := list2(); len(got) != 1 || got[0].Title != "renamed on 1" {
		t.Fatalf("replica 2 lists %+v after a patch through replica 1", got)
	}
	s1.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", tok, nil)
	if got := list2(); len(got) != 1 || got[0].Status != "IN_PROGRESS" {
		t.Fatalf("replica 2 lists %+v after a put through replica 1", got)
	}
	s1.expect(t, http.StatusNoContent, "", "DELETE", taskPath(tk.ID), tok, nil)
	if got := list2(); len(got) != 0 {
		t.Fatalf("replica 2 lists %v after a delete through replica 1", ids(got))
	}
	// And the other way round.
	s2.listTasks(t, tok, "")
	s1.listTasks(t, tok, "")
	tk2 := s2.newTask(t, tok, "through replica 2")
	if got, _ := s1.listTasks(t, tok, ""); len(got) != 1 || got[0].ID != tk2.ID {
		t.Fatalf("replica 1 lists %v after a create through replica 2", ids(got))
	}
}

// TestAPI_Redis_Unreachable_ServesFromDatabase: with Redis down, requests
// are served from the database and /ready names redis.
func TestAPI_Redis_Unreachable_ServesFromDatabase(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "memory", newDatabase(t))
	cfg.CacheBackend = "redis"
	cfg.RedisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", deadPort(t))
	cfg.AdminAddr = "127.0.0.1:0"
	var admin *bootstrap.AdminServer
	a := startServer(t, cfg, fx.Populate(&admin))

	tn := a.newTenant(t)
	tok := tn.Admin.Token
	if got, _ := a.listTasks(t, tok, ""); len(got) != 0 {
		t.Fatalf("fresh organization lists %v", ids(got))
	}
	tk := a.newTask(t, tok, "written while redis is down")
	if got, _ := a.listTasks(t, tok, ""); len(got) != 1 || got[0].ID != tk.ID {
		t.Fatalf("after create the list is %v, want [%d]", ids(got), tk.ID)
	}
	a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", tok, nil)
	if got, _ := a.listTasks(t, tok, "status=IN_PROGRESS"); len(got) != 1 {
		t.Fatalf("after put the IN_PROGRESS list is %v", ids(got))
	}
	p := a.expect(t, http.StatusServiceUnavailable, "", "GET", "/ready", "", nil).problem(t)
	if !strings.Contains(p.Detail, "redis") {
		t.Errorf("/ready 503 detail %q does not name redis", p.Detail)
	}
	if p.Checks != nil && (p.Checks["redis"] == "ok" || p.Checks["database"] != "ok") {
		t.Errorf("/ready checks %v: want redis failing and the database ok", p.Checks)
	}
	// The breaker opened at start-up: every lookup was skipped, none
	// reached Redis.
	ms := scrape(t, "http://"+admin.Addr()+"/metrics")
	atLeast(t, ms, "taskflow_cache_requests_total", map[string]string{"backend": "redis", "result": "skipped"}, 3)
	for _, result := range []string{"hit", "miss", "error"} {
		for _, got := range find(ms, "taskflow_cache_requests_total", map[string]string{"backend": "redis", "result": result}) {
			if got.value != 0 {
				t.Errorf("cache %s counted %v times while the breaker is open", result, got.value)
			}
		}
	}
}

// TestAPI_Redis_SeparateDatabasesDoNotShareCachedLists: two deployments
// with their own databases and one Redis (two environments, two test
// runs, a staging and a review app on the same Redis) must not serve each
// other's lists. Both databases have an organization 1.
func TestAPI_Redis_SeparateDatabasesDoNotShareCachedLists(t *testing.T) {
	t.Parallel()
	s1 := startServer(t, testConfig(t, "redis", newDatabase(t)))
	s2 := startServer(t, testConfig(t, "redis", newDatabase(t)))
	t1, t2 := s1.newTenant(t), s2.newTenant(t)
	if t1.ID != t2.ID {
		t.Skipf("the organizations got ids %d and %d; the collision needs equal ids", t1.ID, t2.ID)
	}
	secret := unique("deployment-1-only")
	s1.newTask(t, t1.Admin.Token, secret)
	// Whatever this test caches under the shared key must not outlive it
	// and reach the next test run's organization: a write moves the
	// shared generation on.
	t.Cleanup(func() {
		_, _, _ = s1.exchange("POST", "/tasks", t1.Admin.Token, map[string]any{"title": "invalidate"})
	})
	s1.listTasks(t, t1.Admin.Token, "limit=7") // cached under organization id t1.ID
	got, r := s2.listTasks(t, t2.Admin.Token, "limit=7")
	if strings.Contains(string(r.body), secret) || len(got) != 0 {
		t.Errorf("deployment 2 lists %+v: another database's task, served from the shared Redis", got)
	}
}
