package bootstrap_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIsolationProperty drives each configuration (Postgres with either
// cache, the embedded SQLite) with a random sequence of operations by the
// members of three organizations, and holds every answer to an in-test
// model of what the acting organization should see: the exact status, the
// exact body, and nothing at all from another organization. Every name,
// title and email carries its organization's random marker, so a leak is a
// substring of the raw body; ids are checked on the decoded JSON.
//
// The run is reproducible: TASKFLOW_PROP_SEED replays a sequence (the seed
// is logged, and printed with every failure); TASKFLOW_PROP_STEPS changes
// its length. The choices depend only on the seed and on the model, never
// on the ids the server hands out.
func TestIsolationProperty(t *testing.T) {
	seed := propEnvUint(t, "TASKFLOW_PROP_SEED", uint64(time.Now().UnixNano()))
	steps := int(propEnvUint(t, "TASKFLOW_PROP_STEPS", 300))
	t.Logf("seed %d, %d steps per configuration (replay with TASKFLOW_PROP_SEED=%d)", seed, steps, seed)
	eachConfiguration(t, func(t *testing.T, a *api) {
		r := &propRun{t: t, a: a, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
			taskOwner: map[int64]*pOrg{}, userOwner: map[int64]*pOrg{}, outcomes: map[string]int{}}
		r.setup()
		for r.step = 1; r.step <= steps; r.step++ {
			r.randomStep()
		}
		r.step = steps + 1
		r.finalCheck()
	})
}

func propEnvUint(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

const (
	propOrgCount   = 3
	propFirstUsers = 2 // USERs signed up per organization before the run
	propMaxMembers = 7 // past this, invites are issued but not used
	propHistory    = 12
)

var propStatuses = []string{"CREATED", "IN_PROGRESS", "COMPLETED"}

// pOrg is the model of one organization: what its members must see.
type pOrg struct {
	n       int // index, for messages
	id      int64
	name    string
	marker  string
	members []*pMember // current members, in id order
	gone    []*pMember // removed members: their tokens must be refused
	tasks   map[int64]*pTask
	deleted []int64
}

type pMember struct {
	org       *pOrg
	id        int64
	email     string
	role      string
	token     string
	createdAt time.Time
	// ended: a role change ended the member's sessions, so token must be
	// refused; the member logs in again before acting next.
	ended bool
}

func (m *pMember) String() string {
	return fmt.Sprintf("org#%d %s %d", m.org.n, m.role, m.id)
}

// pTask is a task as the API shows it; stale marks an updated_at the model
// cannot know (a member removal moved it on, in the database's clock).
type pTask struct {
	task
	stale bool
}

type pUser struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Role           string    `json:"role"`
	OrganizationID int64     `json:"organization_id"`
	CreatedAt      time.Time `json:"created_at"`
}

func (o *pOrg) admins() []*pMember {
	var out []*pMember
	for _, m := range o.members {
		if m.role == "ADMIN" {
			out = append(out, m)
		}
	}
	return out
}

// liveIDs lists the organization's tasks newest first: the list order, and
// a deterministic order to pick from (map order is not).
func (o *pOrg) liveIDs() []int64 {
	out := make([]int64, 0, len(o.tasks))
	for id := range o.tasks {
		out = append(out, id)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// filtered is what GET /tasks must list, all pages together.
func (o *pOrg) filtered(status string, assignee *int64) []*pTask {
	var out []*pTask
	for _, id := range o.liveIDs() {
		tk := o.tasks[id]
		if status != "" && tk.Status != status {
			continue
		}
		if assignee != nil && (tk.AssigneeID == nil || *tk.AssigneeID != *assignee) {
			continue
		}
		out = append(out, tk)
	}
	return out
}

func validTransition(from, to string) bool {
	return (from == "CREATED" && to == "IN_PROGRESS") || (from == "IN_PROGRESS" && to == "COMPLETED")
}

// propRun is one configuration's run: the server, the model, the random
// source and the recent history for failure reports.
type propRun struct {
	t         *testing.T
	a         *api
	seed      uint64
	rng       *rand.Rand
	orgs      []*pOrg
	step      int
	seq       int
	history   []string
	taskOwner map[int64]*pOrg // every task id ever created
	userOwner map[int64]*pOrg // every user id ever signed up
	outcomes  map[string]int  // "PATCH 409": how often, to show what a run covered
}

func (r *propRun) chance(percent int) bool { return r.rng.IntN(100) < percent }

func (r *propRun) failf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("isolation property broken at step %d (seed %d; replay with TASKFLOW_PROP_SEED=%d):\n%s\nlast operations:\n%s",
		r.step, r.seed, r.seed, fmt.Sprintf(format, args...), strings.Join(r.history, "\n"))
}

func (r *propRun) note(s string) {
	r.history = append(r.history, fmt.Sprintf("  step %d: %s", r.step, s))
	if len(r.history) > propHistory {
		r.history = r.history[len(r.history)-propHistory:]
	}
}

// call sends one request as m (nil: anonymous) on behalf of org, checks
// the contract's general rules and the OpenAPI document, and checks that
// nothing of another organization is in the answer.
func (r *propRun) call(org *pOrg, m *pMember, method, path string, body any, headers ...string) reply {
	r.t.Helper()
	who, token := fmt.Sprintf("org#%d anonymous", org.n), ""
	if m != nil {
		who, token = m.String(), m.token
	}
	sent := ""
	if body != nil {
		b, _ := json.Marshal(body)
		sent = " " + truncate(string(b), 160)
	}
	if len(headers) > 0 {
		sent += fmt.Sprintf(" %q", headers)
	}
	rep, violations, err := r.a.exchange(method, path, token, body, headers...)
	if err != nil {
		r.note(fmt.Sprintf("%s: %s %s%s -> %v", who, method, path, sent, err))
		r.failf("%v", err)
	}
	r.note(fmt.Sprintf("%s: %s %s%s -> %d %s", who, method, path, sent, rep.status, truncate(string(rep.body), 200)))
	r.outcomes[fmt.Sprintf("%s %d", method, rep.status)]++
	if len(violations) > 0 {
		r.failf("%s:\n  %s", rep, strings.Join(violations, "\n  "))
	}
	r.noLeak(org, rep)
	return rep
}

// noLeak: no other organization's marker anywhere in the raw body, no
// other organization id, and no id of another organization's task or user
// in the fields that hold one.
func (r *propRun) noLeak(org *pOrg, rep reply) {
	r.t.Helper()
	for _, o := range r.orgs {
		if o != org && bytes.Contains(rep.body, []byte(o.marker)) {
			r.failf("%s\nleaks org#%d's marker %q to org#%d", rep, o.n, o.marker, org.n)
		}
	}
	if len(bytes.TrimSpace(rep.body)) == 0 {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(rep.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		r.failf("%s\nbody is not JSON: %v", rep, err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			_, isTask := x["title"]
			_, isUser := x["email"]
			for k, val := range x {
				walk(val)
				num, ok := val.(json.Number)
				if !ok {
					continue
				}
				id, err := num.Int64()
				if err != nil {
					continue
				}
				var owner *pOrg
				switch {
				case k == "organization_id":
					if id != org.id {
						r.failf("%s\nanswer to org#%d names organization %d", rep, org.n, id)
					}
				case k == "id" && isTask:
					owner = r.taskOwner[id]
				case k == "id" && isUser, k == "assignee_id", k == "created_by", k == "user_id":
					owner = r.userOwner[id]
				}
				if owner != nil && owner != org {
					r.failf("%s\nanswer to org#%d holds org#%d's id %d in %q", rep, org.n, owner.n, id, k)
				}
			}
		}
	}
	walk(v)
}

// expect checks the status the model predicts (why says why) and, for an
// error, the problem's code when one is given.
func (r *propRun) expect(rep reply, status int, code, why string) {
	r.t.Helper()
	if rep.status != status {
		r.failf("%s\nstatus %d, the model expects %d: %s", rep, rep.status, status, why)
	}
	if code != "" {
		var p struct {
			Code string `json:"code"`
		}
		r.decode(rep, &p)
		if p.Code != code {
			r.failf("%s\nproblem code %q, the model expects %q: %s", rep, p.Code, code, why)
		}
	}
}

func (r *propRun) decode(rep reply, v any) {
	r.t.Helper()
	if err := json.Unmarshal(rep.body, v); err != nil {
		r.failf("%s\nbody does not decode into %T: %v", rep, v, err)
	}
}

// sameTask compares an answer's task with the model's.
func (r *propRun) sameTask(rep reply, got pTask, want *pTask) {
	r.t.Helper()
	var diffs []string
	d := func(field string, g, w any) { diffs = append(diffs, fmt.Sprintf("%s %v, model %v", field, g, w)) }
	if got.ID != want.ID {
		d("id", got.ID, want.ID)
	}
	if got.OrganizationID != want.OrganizationID {
		d("organization_id", got.OrganizationID, want.OrganizationID)
	}
	if got.Title != want.Title {
		d("title", got.Title, want.Title)
	}
	if got.Description != want.Description {
		d("description", strconv.Quote(got.Description), strconv.Quote(want.Description))
	}
	if got.Status != want.Status {
		d("status", got.Status, want.Status)
	}
	if !propSameID(got.AssigneeID, want.AssigneeID) {
		d("assignee_id", propIDString(got.AssigneeID), propIDString(want.AssigneeID))
	}
	if got.Priority != want.Priority {
		d("priority", got.Priority, want.Priority)
	}
	if (got.DueAt == nil) != (want.DueAt == nil) || (got.DueAt != nil && !got.DueAt.Equal(*want.DueAt)) {
		d("due_at", got.DueAt, want.DueAt)
	}
	if got.Labels == nil || !slices.Equal(got.Labels, want.Labels) {
		d("labels", fmt.Sprintf("%q", got.Labels), fmt.Sprintf("%q", want.Labels))
	}
	// completed_at is the server's time of the write that completed the
	// task: the model learns it from that answer, as its updated_at.
	switch {
	case want.Status != "COMPLETED" && got.CompletedAt != nil:
		d("completed_at of a task not COMPLETED", got.CompletedAt, nil)
	case want.Status == "COMPLETED" && want.CompletedAt == nil && (got.CompletedAt == nil || !got.CompletedAt.Equal(got.UpdatedAt)):
		d("completed_at of a task just COMPLETED", got.CompletedAt, got.UpdatedAt)
	case want.Status == "COMPLETED" && want.CompletedAt == nil:
		want.CompletedAt = got.CompletedAt
	case want.CompletedAt != nil && (got.CompletedAt == nil || !got.CompletedAt.Equal(*want.CompletedAt)):
		d("completed_at", got.CompletedAt, want.CompletedAt)
	}
	if got.CreatedBy != want.CreatedBy {
		d("created_by", got.CreatedBy, want.CreatedBy)
	}
	if got.Version != want.Version {
		d("version", got.Version, want.Version)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		d("created_at", got.CreatedAt, want.CreatedAt)
	}
	if !want.stale && !got.UpdatedAt.Equal(want.UpdatedAt) {
		d("updated_at", got.UpdatedAt, want.UpdatedAt)
	}
	if got.UpdatedAt.Before(got.CreatedAt) {
		d("updated_at before created_at", got.UpdatedAt, got.CreatedAt)
	}
	if len(diffs) > 0 {
		r.failf("%s\ntask %d differs from the model: %s", rep, want.ID, strings.Join(diffs, "; "))
	}
	if want.stale {
		want.UpdatedAt, want.stale = got.UpdatedAt, false
	}
}

func propSameID(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func propIDString(p *int64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatInt(*p, 10)
}

func (r *propRun) sameUser(rep reply, got pUser, want *pMember) {
	r.t.Helper()
	if got.ID != want.id || got.Email != want.email || got.Role != want.role || got.OrganizationID != want.org.id ||
		(!want.createdAt.IsZero() && !got.CreatedAt.Equal(want.createdAt)) {
		r.failf("%s\nuser %+v differs from the model: id %d, email %s, role %s, organization %d, created_at %v",
			rep, got, want.id, want.email, want.role, want.org.id, want.createdAt)
	}
}

// Generators. Everything an organization names carries its marker; the
// sequence number keeps titles and emails unique.

func (r *propRun) title(o *pOrg) string {
	r.seq++
	words := []string{"plan", "ship", "review", "fix", "write", "test", "deploy"}
	return fmt.Sprintf("%s %s #%d", words[r.rng.IntN(len(words))], o.marker, r.seq)
}

var propPriorities = []string{"LOW", "MEDIUM", "HIGH", "URGENT"}

// details adds a random priority, due date and labels to body, each
// sometimes, and applies them to tk as the server must. Labels include
// the organization's marker, so a leaked label is caught like a title.
func (r *propRun) details(o *pOrg, body map[string]any, tk *pTask, patch bool) {
	if r.chance(30) {
		p := propPriorities[r.rng.IntN(len(propPriorities))]
		body["priority"], tk.Priority = p, p
	}
	if r.chance(30) {
		if patch && r.chance(30) {
			body["due_at"], tk.DueAt = nil, nil
		} else {
			due := time.Date(2030+r.rng.IntN(5), time.Month(1+r.rng.IntN(12)), 1+r.rng.IntN(28), r.rng.IntN(24), 0, 0, r.rng.IntN(1e6)*1000,
				time.FixedZone("", 3600*(r.rng.IntN(5)-2)))
			body["due_at"], tk.DueAt = due.Format(time.RFC3339Nano), &due
		}
	}
	if r.chance(30) {
		words := []string{o.marker, strings.ToUpper(o.marker), "Bug", "bug", " ops ", "Été", "été"}
		in := []string{}
		for range r.rng.IntN(4) {
			in = append(in, words[r.rng.IntN(len(words))])
		}
		set := []string{}
		for _, l := range in {
			set = append(set, strings.ToLower(strings.TrimSpace(l)))
		}
		slices.Sort(set)
		body["labels"], tk.Labels = in, slices.Compact(set)
	}
}

func (r *propRun) email(o *pOrg) string {
	r.seq++
	return fmt.Sprintf("m%d.%s@example.test", r.seq, o.marker)
}

func (r *propRun) text() string {
	parts := []string{"", "notes", "  spaced  ", "line\nbreak", "ünïcödé", "日本語", "tab\there", "emoji 🚀", "<b>html</b>", `quote " and \ slash`}
	n := r.rng.IntN(4)
	var b strings.Builder
	for range n {
		b.WriteString(parts[r.rng.IntN(len(parts))])
	}
	return b.String()
}

// actor picks a member of o; for an ADMIN action, mostly an ADMIN, so that
// writes happen, but sometimes anyone, so that USERs get refused.
func (r *propRun) actor(o *pOrg, adminAction bool) *pMember {
	r.t.Helper()
	m := o.members[r.rng.IntN(len(o.members))]
	if adminAction && r.chance(80) {
		admins := o.admins()
		m = admins[r.rng.IntN(len(admins))]
	}
	if m.ended {
		r.renew(m)
	}
	return m
}

func (r *propRun) otherOrg(o *pOrg) *pOrg {
	k := r.rng.IntN(len(r.orgs) - 1)
	if k >= o.n {
		k++
	}
	return r.orgs[k]
}

// foreignTask picks a task (live or deleted) of another organization.
func (r *propRun) foreignTask(o *pOrg) (int64, *pOrg, bool) {
	other := r.otherOrg(o)
	ids := append(other.liveIDs(), other.deleted...)
	if len(ids) == 0 {
		return 0, nil, false
	}
	return ids[r.rng.IntN(len(ids))], other, true
}

// foreignUser picks a member (current or removed) of another organization.
func (r *propRun) foreignUser(o *pOrg) (int64, *pOrg) {
	other := r.otherOrg(o)
	all := append(slices.Clone(other.members), other.gone...)
	return all[r.rng.IntN(len(all))].id, other
}

// pickTask picks a task id for a read or a write: mostly a live task of
// o (returned with its model), else a deleted one, another organization's
// or one nobody has (returned with nil and the reason it must be 404).
func (r *propRun) pickTask(o *pOrg) (int64, *pTask, string) {
	live := o.liveIDs()
	k := r.rng.IntN(100)
	switch {
	case k < 62 && len(live) > 0:
		id := live[r.rng.IntN(len(live))]
		return id, o.tasks[id], "a task of the actor's organization"
	case k < 75 && len(o.deleted) > 0:
		return o.deleted[r.rng.IntN(len(o.deleted))], nil, "a deleted task"
	case k < 97:
		if id, other, ok := r.foreignTask(o); ok {
			return id, nil, fmt.Sprintf("a task of org#%d", other.n)
		}
	}
	if len(live) > 0 && k < 90 {
		id := live[r.rng.IntN(len(live))]
		return id, o.tasks[id], "a task of the actor's organization"
	}
	return 1<<50 + r.rng.Int64N(1000), nil, "a task id nobody has"
}

// pickAssignee: an assignee for a create or a patch, and whether the
// server must refuse it (another organization's user, a removed member).
func (r *propRun) pickAssignee(o *pOrg) (id *int64, bad bool, why string) {
	k := r.rng.IntN(100)
	switch {
	case k < 60:
		m := o.members[r.rng.IntN(len(o.members))]
		return &m.id, false, ""
	case k < 75:
		return nil, false, ""
	case k < 90 || len(o.gone) == 0:
		u, other := r.foreignUser(o)
		return &u, true, fmt.Sprintf("assignee %d is a user of org#%d", u, other.n)
	default:
		g := o.gone[r.rng.IntN(len(o.gone))]
		return &g.id, true, fmt.Sprintf("assignee %d was removed from the organization", g.id)
	}
}

// setup creates the organizations, each with an ADMIN and a few USERs:
// the only sign-ups and logins besides the occasional invite during the
// run (bcrypt is the slow part).
func (r *propRun) setup() {
	r.t.Helper()
	for n := range propOrgCount {
		o := &pOrg{n: n, marker: "mk" + randomHex(5), tasks: map[int64]*pTask{}}
		for _, other := range r.orgs {
			if other.marker == o.marker {
				r.t.Fatalf("two organizations drew the marker %q", o.marker)
			}
		}
		o.name = "org " + o.marker
		r.orgs = append(r.orgs, o)
		rep := r.call(o, nil, "POST", "/organizations", map[string]any{"name": o.name})
		r.expect(rep, http.StatusCreated, "", "a new organization")
		var created struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
			Code string `json:"admin_invite_code"`
		}
		r.decode(rep, &created)
		if created.Name != o.name || created.Code == "" {
			r.failf("%s\nwant the name %q and an invite code", rep, o.name)
		}
		o.id = created.ID
		r.signUp(o, created.Code, "ADMIN")
		for range propFirstUsers {
			r.inviteAndSignUp(o, o.members[0], "USER", false)
		}
	}
}

// signUp uses code for a new member of o with the role the invite gives.
func (r *propRun) signUp(o *pOrg, code, role string) {
	r.t.Helper()
	r.signUpAs(o, code, role, r.email(o))
}

func (r *propRun) signUpAs(o *pOrg, code, role, email string) {
	r.t.Helper()
	sent := email
	if r.chance(20) {
		sent = strings.ToUpper(email[:1]) + email[1:] // emails are stored lower-cased
	}
	rep := r.call(o, nil, "POST", "/signup", map[string]any{"email": sent, "password": password, "invite_code": code})
	r.expect(rep, http.StatusCreated, "", "sign-up with a fresh invite")
	var u pUser
	r.decode(rep, &u)
	if r.userOwner[u.ID] != nil || u.ID < 1 {
		r.failf("%s\nthe new user's id %d is not new", rep, u.ID)
	}
	m := &pMember{org: o, id: u.ID, email: email, role: role}
	r.sameUser(rep, u, m)
	m.createdAt = u.CreatedAt
	r.login(m, sent)
	r.userOwner[m.id] = o
	o.members = append(o.members, m)
	slices.SortFunc(o.members, func(a, b *pMember) int { return cmp.Compare(a.id, b.id) })
}

// login gives m a new token (email: as the member types it).
func (r *propRun) login(m *pMember, email string) {
	r.t.Helper()
	rep := r.call(m.org, nil, "POST", "/login", map[string]any{"email": email, "password": password})
	r.expect(rep, http.StatusOK, "", "login of a current member")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(rep, &tok)
	if tok.AccessToken == "" {
		r.failf("%s\nno access token", rep)
	}
	m.token, m.ended = tok.AccessToken, false
}

// renew: the token of a member whose role changed is refused, whatever it
// asks; a new login carries the new role.
func (r *propRun) renew(m *pMember) {
	r.t.Helper()
	var rep reply
	switch r.rng.IntN(3) {
	case 0:
		rep = r.call(m.org, m, "GET", "/me", nil)
	case 1:
		rep = r.call(m.org, m, "GET", "/tasks", nil)
	default:
		rep = r.call(m.org, m, "POST", "/tasks", map[string]any{"title": r.title(m.org)})
	}
	r.expect(rep, http.StatusUnauthorized, "unauthenticated", "the member's role changed, which ends their sessions")
	r.login(m, m.email)
}

// inviteAndSignUp has m invite someone with role (bound to the email when
// bind) and, when the organization has room, signs them up.
func (r *propRun) inviteAndSignUp(o *pOrg, m *pMember, role string, bind bool) {
	r.t.Helper()
	email := r.email(o)
	body := map[string]any{"role": role}
	if bind {
		body["email"] = email
	}
	rep := r.call(o, m, "POST", "/invites", body)
	if m.role != "ADMIN" {
		r.expect(rep, http.StatusForbidden, "forbidden", "a USER may not invite")
		return
	}
	r.expect(rep, http.StatusCreated, "", "an ADMIN invites")
	var inv struct {
		Code  string  `json:"code"`
		Role  string  `json:"role"`
		Email *string `json:"email"`
	}
	r.decode(rep, &inv)
	if inv.Code == "" || inv.Role != role || (bind != (inv.Email != nil)) || (bind && *inv.Email != email) {
		r.failf("%s\nwant an invite for role %s bound to %q", rep, role, map[bool]string{true: email}[bind])
	}
	if len(o.members) >= propMaxMembers {
		return
	}
	r.signUpAs(o, inv.Code, role, email)
}

// randomStep picks an organization, an operation and an actor, and checks
// the answer against the model.
func (r *propRun) randomStep() {
	r.t.Helper()
	o := r.orgs[r.rng.IntN(len(r.orgs))]
	ops := []struct {
		weight int
		run    func(*pOrg)
	}{
		{20, r.opCreate}, {18, r.opList}, {10, r.opGet}, {14, r.opPatch}, {8, r.opPut}, {6, r.opDelete},
		{3, r.opInvite}, {7, r.opSetRole}, {2, r.opRemove}, {5, r.opUsers}, {3, r.opMe}, {2, r.opGhost},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	k := r.rng.IntN(total)
	for _, op := range ops {
		if k < op.weight {
			op.run(o)
			return
		}
		k -= op.weight
	}
}

func (r *propRun) opCreate(o *pOrg) {
	r.t.Helper()
	m := r.actor(o, true)
	title := r.title(o)
	body := map[string]any{"title": title}
	if r.chance(15) {
		body["title"] = "  " + title + " " // titles are trimmed
	}
	desc := ""
	if r.chance(40) {
		desc = r.text()
		body["description"] = desc
	}
	if r.chance(25) {
		body["status"] = "CREATED"
	}
	details := pTask{task: task{Priority: "MEDIUM", Labels: []string{}}}
	r.details(o, body, &details, false)
	want, code, why := http.StatusCreated, "", "an ADMIN creates a task"
	var assignee *int64
	if r.chance(50) {
		id, bad, badWhy := r.pickAssignee(o)
		body["assignee_id"] = id
		if bad {
			want, code, why = http.StatusUnprocessableEntity, "validation_failed", badWhy
		} else {
			assignee = id
		}
	}
	if m.role != "ADMIN" {
		want, code, why = http.StatusForbidden, "forbidden", "a USER may not create tasks"
	}
	rep := r.call(o, m, "POST", "/tasks", body)
	r.expect(rep, want, code, why)
	if want != http.StatusCreated {
		return
	}
	var got pTask
	r.decode(rep, &got)
	if got.ID < 1 || r.taskOwner[got.ID] != nil {
		r.failf("%s\nthe new task's id %d is not new", rep, got.ID)
	}
	tk := &pTask{task: task{ID: got.ID, OrganizationID: o.id, Title: title, Description: desc, Status: "CREATED",
		AssigneeID: assignee, Priority: details.Priority, DueAt: details.DueAt, Labels: details.Labels,
		CreatedBy: m.id, CreatedAt: got.CreatedAt, UpdatedAt: got.CreatedAt, Version: 1}}
	r.sameTask(rep, got, tk)
	if loc := rep.header.Get("Location"); !strings.HasSuffix(loc, taskPath(got.ID)) {
		r.failf("%s\nLocation %q, want one ending in %s", rep, loc, taskPath(got.ID))
	}
	r.checkETag(rep, tk)
	o.tasks[tk.ID] = tk
	r.taskOwner[tk.ID] = o
}

func (r *propRun) checkETag(rep reply, tk *pTask) {
	r.t.Helper()
	if got, want := rep.header.Get("ETag"), `"`+strconv.FormatInt(tk.Version, 10)+`"`; got != want {
		r.failf("%s\nETag %q, want %q", rep, got, want)
	}
}

var propLinkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

// opList lists with random filters and a random page, then follows some
// or all of the Link rel=next chain; every page must be exactly the
// model's slice of the filtered list, newest first.
func (r *propRun) opList(o *pOrg) {
	r.t.Helper()
	m := r.actor(o, false)
	q := url.Values{}
	if r.chance(30) {
		// A few queries every organization asks: a cache that mixed up
		// tenants would serve one organization's cached page to another.
		common := []string{"", "limit=5", "status=CREATED", "status=IN_PROGRESS&limit=3", "page=2&limit=4"}
		q, _ = url.ParseQuery(common[r.rng.IntN(len(common))])
		r.listPages(o, m, q, r.rng.IntN(2))
		return
	}
	status := ""
	if r.chance(40) {
		status = propStatuses[r.rng.IntN(len(propStatuses))]
		q.Set("status", status)
	}
	var assignee *int64
	switch k := r.rng.IntN(10); {
	case k < 2:
		assignee = &o.members[r.rng.IntN(len(o.members))].id
	case k < 3 && len(o.gone) > 0:
		assignee = &o.gone[r.rng.IntN(len(o.gone))].id
	case k < 4:
		u, _ := r.foreignUser(o)
		assignee = &u // matches nothing of the actor's organization
	}
	if assignee != nil {
		q.Set("assignee_id", strconv.FormatInt(*assignee, 10))
	}
	limit := 10
	if r.chance(75) {
		limit = 1 + r.rng.IntN(20)
		q.Set("limit", strconv.Itoa(limit))
	}
	if r.chance(60) {
		n := len(o.filtered(status, assignee))
		q.Set("page", strconv.Itoa(1+r.rng.IntN((n+limit-1)/limit+1)))
	}
	hops := r.rng.IntN(3)
	if r.chance(30) {
		hops = 1 << 30
	}
	r.listPages(o, m, q, hops)
}

// listPages lists with query q, then follows up to hops Link rel=next.
func (r *propRun) listPages(o *pOrg, m *pMember, q url.Values, hops int) {
	r.t.Helper()
	status := q.Get("status")
	var assignee *int64
	if s := q.Get("assignee_id"); s != "" {
		id, _ := strconv.ParseInt(s, 10, 64)
		assignee = &id
	}
	limit, page := 10, 1
	if s := q.Get("limit"); s != "" {
		limit, _ = strconv.Atoi(s)
	}
	if s := q.Get("page"); s != "" {
		page, _ = strconv.Atoi(s)
	}
	want := o.filtered(status, assignee)
	path := "/tasks"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	offset := (page - 1) * limit
	for hop := 0; ; hop++ {
		rep := r.call(o, m, "GET", path, nil)
		r.expect(rep, http.StatusOK, "", "any member lists")
		var got []pTask
		r.decode(rep, &got)
		chunk := want[min(offset, len(want)):min(offset+limit, len(want))]
		if len(got) != len(chunk) {
			r.failf("%s\n%d tasks, the model has %d on this page (offset %d, limit %d, %d match): got %v, want %v",
				rep, len(got), len(chunk), offset, limit, len(want), propIDs(got), propModelIDs(chunk))
		}
		for i := range got {
			r.sameTask(rep, got[i], chunk[i])
		}
		link := ""
		if lm := propLinkNext.FindStringSubmatch(rep.header.Get("Link")); lm != nil {
			u, err := url.Parse(lm[1])
			if err != nil {
				r.failf("%s\nLink %q: %v", rep, rep.header.Get("Link"), err)
			}
			link = u.RequestURI()
			lq := u.Query()
			if lq.Get("limit") != strconv.Itoa(limit) || lq.Get("status") != status ||
				lq.Get("assignee_id") != q.Get("assignee_id") || lq.Get("cursor") == "" {
				r.failf("%s\nnext link %q does not keep limit %d, status %q, assignee %q with a cursor", rep, link, limit, status, q.Get("assignee_id"))
			}
		}
		if more := len(want) > offset+limit; more != (link != "") {
			r.failf("%s\nLink %q, but the model has %d matching tasks and this page ends at %d", rep, rep.header.Get("Link"), len(want), offset+limit)
		}
		if link == "" || hop >= hops {
			return
		}
		path, offset = link, offset+limit
	}
}

func propIDs(ts []pTask) []int64 {
	out := make([]int64, len(ts))
	for i, tk := range ts {
		out[i] = tk.ID
	}
	return out
}

func propModelIDs(ts []*pTask) []int64 {
	out := make([]int64, len(ts))
	for i, tk := range ts {
		out[i] = tk.ID
	}
	return out
}

func (r *propRun) opGet(o *pOrg) {
	r.t.Helper()
	m := r.actor(o, false)
	id, tk, why := r.pickTask(o)
	rep := r.call(o, m, "GET", taskPath(id), nil)
	if tk == nil {
		r.expect(rep, http.StatusNotFound, "task_not_found", why)
		return
	}
	r.expect(rep, http.StatusOK, "", why)
	var got pTask
	r.decode(rep, &got)
	r.sameTask(rep, got, tk)
	r.checkETag(rep, tk)
}

// ifMatch sometimes adds an If-Match header: the current version, or a
// stale one. It returns the headers and whether the precondition fails.
func (r *propRun) ifMatch(tk *pTask) ([]string, bool) {
	if !r.chance(20) {
		return nil, false
	}
	if tk == nil {
		return []string{"If-Match", `"1"`}, false
	}
	if r.chance(50) {
		return []string{"If-Match", `"` + strconv.FormatInt(tk.Version, 10) + `"`}, false
	}
	stale := tk.Version + 1
	if tk.Version > 1 && r.chance(50) {
		stale = tk.Version - 1
	}
	return []string{"If-Match", `"` + strconv.FormatInt(stale, 10) + `"`}, true
}

// writer picks the member for a task write: mostly as actor does, but
// sometimes the task's assignee, so that assignees move their tasks.
func (r *propRun) writer(o *pOrg, tk *pTask) *pMember {
	r.t.Helper()
	m := r.actor(o, true)
	if tk == nil || tk.AssigneeID == nil || !r.chance(50) {
		return m
	}
	for _, a := range o.members {
		if a.id == *tk.AssigneeID {
			m = a
		}
	}
	if m.ended {
		r.renew(m)
	}
	return m
}

// predictWrite is the status a task write must get, in the order the
// contract implies: existence (another organization's task is 404 for
// anyone), role, precondition, then the change itself. A USER may write a
// task only as its assignee, moving its status and nothing else
// (moveOnly: the request asks for a status change alone).
func predictWrite(m *pMember, tk *pTask, why string, stale, moveOnly bool) (int, string, string) {
	switch {
	case tk == nil:
		return http.StatusNotFound, "task_not_found", why
	case m.role != "ADMIN" && (!moveOnly || tk.AssigneeID == nil || *tk.AssigneeID != m.id):
		return http.StatusForbidden, "forbidden", "a USER may only move a task assigned to them"
	case stale:
		return http.StatusPreconditionFailed, "precondition_failed", "If-Match names a version the task is not at"
	}
	return 0, "", ""
}

func (r *propRun) opPatch(o *pOrg) {
	r.t.Helper()
	id, tk, why := r.pickTask(o)
	m := r.writer(o, tk)
	body := map[string]any{}
	var title, desc, status *string
	var assignee *int64
	setAssignee, badAssignee, badWhy := false, false, ""
	if r.chance(45) {
		s := r.title(o)
		title = &s
		body["title"] = s
		if r.chance(15) {
			body["title"] = " " + s + "  "
		}
	}
	if r.chance(30) {
		s := r.text()
		desc = &s
		body["description"] = s
	}
	if r.chance(30) {
		setAssignee = true
		assignee, badAssignee, badWhy = r.pickAssignee(o)
		body["assignee_id"] = assignee
	}
	// A refused assignee and a refused transition together have no
	// contractual order; they are never combined.
	if !badAssignee && r.chance(35) {
		s := propStatuses[r.rng.IntN(len(propStatuses))]
		status = &s
		body["status"] = s
	}
	var details pTask
	if tk != nil {
		details = *tk
	}
	r.details(o, body, &details, true)
	if m.role != "ADMIN" && r.chance(60) {
		// Mostly what an assignee may send: the status alone.
		s := propStatuses[r.rng.IntN(len(propStatuses))]
		title, desc, assignee, status = nil, nil, nil, &s
		setAssignee, badAssignee = false, false
		body = map[string]any{"status": s}
		details = pTask{}
		if tk != nil {
			details = *tk
		}
	}
	headers, stale := r.ifMatch(tk)
	rep := r.call(o, m, "PATCH", taskPath(id), body, headers...)
	if want, code, why := predictWrite(m, tk, why, stale, status != nil && len(body) == 1); want != 0 {
		r.expect(rep, want, code, why)
		return
	}
	if status != nil && !validTransition(tk.Status, *status) {
		r.expect(rep, http.StatusConflict, "invalid_status_transition", fmt.Sprintf("%s -> %s", tk.Status, *status))
		return
	}
	if badAssignee {
		r.expect(rep, http.StatusUnprocessableEntity, "validation_failed", badWhy)
		return
	}
	r.expect(rep, http.StatusOK, "", "an ADMIN patches a task of the organization, or its assignee moves it")
	if m.role != "ADMIN" {
		r.outcomes["PATCH by the assignee 200"]++
	}
	next := *tk
	if len(body) > 0 {
		next.Version++
	}
	if title != nil {
		next.Title = *title
	}
	if desc != nil {
		next.Description = *desc
	}
	if setAssignee {
		next.AssigneeID = assignee
	}
	if status != nil {
		next.Status = *status
	}
	next.Priority, next.DueAt, next.Labels = details.Priority, details.DueAt, details.Labels
	r.applyWrite(rep, tk, next, len(body) > 0)
}

// applyWrite checks a 200 answer to a task write against next, the
// model's expectation, and makes it the model; changed says whether the
// write changed the task (then updated_at moves, to a time the answer
// tells).
func (r *propRun) applyWrite(rep reply, tk *pTask, next pTask, changed bool) {
	r.t.Helper()
	var got pTask
	r.decode(rep, &got)
	if changed {
		if !tk.stale && got.UpdatedAt.Before(tk.UpdatedAt) {
			r.failf("%s\nupdated_at went back from %v to %v", rep, tk.UpdatedAt, got.UpdatedAt)
		}
		next.UpdatedAt, next.stale = got.UpdatedAt, false
	}
	r.sameTask(rep, got, &next)
	*tk = next
	r.checkETag(rep, tk)
}

func (r *propRun) opPut(o *pOrg) {
	r.t.Helper()
	id, tk, why := r.pickTask(o)
	m := r.writer(o, tk)
	status := propStatuses[r.rng.IntN(len(propStatuses))]
	if tk != nil && r.chance(50) {
		// Mostly the valid next step, so tasks do move along.
		switch tk.Status {
		case "CREATED":
			status = "IN_PROGRESS"
		case "IN_PROGRESS":
			status = "COMPLETED"
		}
	}
	path, body := taskPath(id), any(nil)
	switch r.rng.IntN(3) {
	case 0:
		path += "?new_status=" + status
	case 1:
		body = map[string]any{"status": status}
	default:
		path += "?new_status=" + status
		body = map[string]any{"status": status}
	}
	headers, stale := r.ifMatch(tk)
	rep := r.call(o, m, "PUT", path, body, headers...)
	if want, code, why := predictWrite(m, tk, why, stale, true); want != 0 {
		r.expect(rep, want, code, why)
		return
	}
	if !validTransition(tk.Status, status) {
		r.expect(rep, http.StatusConflict, "invalid_status_transition", fmt.Sprintf("%s -> %s", tk.Status, status))
		return
	}
	r.expect(rep, http.StatusOK, "", "a valid transition by an ADMIN or the task's assignee")
	if m.role != "ADMIN" {
		r.outcomes["PUT by the assignee 200"]++
	}
	next := *tk
	next.Status, next.Version = status, tk.Version+1
	r.applyWrite(rep, tk, next, true)
}

func (r *propRun) opDelete(o *pOrg) {
	r.t.Helper()
	m := r.actor(o, true)
	id, tk, why := r.pickTask(o)
	headers, stale := r.ifMatch(tk)
	rep := r.call(o, m, "DELETE", taskPath(id), nil, headers...)
	if m.role != "ADMIN" {
		// The route refuses a USER before looking the task up.
		r.expect(rep, http.StatusForbidden, "forbidden", "a USER may not delete tasks")
		return
	}
	if want, code, why := predictWrite(m, tk, why, stale, false); want != 0 {
		r.expect(rep, want, code, why)
		return
	}
	r.expect(rep, http.StatusNoContent, "", "an ADMIN deletes a task of the organization")
	if len(rep.body) != 0 {
		r.failf("%s\n204 with a body", rep)
	}
	delete(o.tasks, id)
	o.deleted = append(o.deleted, id)
}

func (r *propRun) opInvite(o *pOrg) {
	r.t.Helper()
	role := "USER"
	if r.chance(30) {
		role = "ADMIN"
	}
	r.inviteAndSignUp(o, r.actor(o, true), role, r.chance(50))
}

// pickUser picks a user id for a membership change: mostly a current
// member (returned), else another organization's user or a removed member.
func (r *propRun) pickUser(o *pOrg, ownPercent int) (int64, *pMember, string) {
	k := r.rng.IntN(100)
	switch {
	case k < ownPercent:
		m := o.members[r.rng.IntN(len(o.members))]
		return m.id, m, ""
	case k < ownPercent+(100-ownPercent)/2 && len(o.gone) > 0:
		g := o.gone[r.rng.IntN(len(o.gone))]
		return g.id, nil, fmt.Sprintf("user %d was removed", g.id)
	default:
		u, other := r.foreignUser(o)
		return u, nil, fmt.Sprintf("user %d belongs to org#%d", u, other.n)
	}
}

func (r *propRun) opSetRole(o *pOrg) {
	r.t.Helper()
	m := r.actor(o, true)
	id, target, why := r.pickUser(o, 75)
	role := propRoles[r.rng.IntN(2)]
	if target != nil && r.chance(80) {
		role = map[string]string{"ADMIN": "USER", "USER": "ADMIN"}[target.role]
	}
	rep := r.call(o, m, "PATCH", userPath(id), map[string]any{"role": role})
	switch {
	case m.role != "ADMIN":
		r.expect(rep, http.StatusForbidden, "forbidden", "a USER may not change roles")
		return
	case target == nil:
		r.expect(rep, http.StatusNotFound, "user_not_found", why)
		return
	case target.role == "ADMIN" && role != "ADMIN" && len(o.admins()) == 1:
		r.expect(rep, http.StatusConflict, "last_admin", "demoting the only ADMIN")
		return
	}
	r.expect(rep, http.StatusOK, "", "an ADMIN sets a member's role")
	if target.role != role {
		// A new role starts with a new login (issue 4): the member's
		// sessions end, and with them the tokens that carried the old role.
		target.role, target.ended = role, true
	}
	var got pUser
	r.decode(rep, &got)
	r.sameUser(rep, got, target)
}

var propRoles = []string{"ADMIN", "USER"}

// opRemove removes a member now and then: the organization keeps at least
// three, and the removed member's tasks become unassigned with their
// version moved on.
func (r *propRun) opRemove(o *pOrg) {
	r.t.Helper()
	m := r.actor(o, true)
	own := 0
	if len(o.members) > 3 {
		own = 60
	}
	id, target, why := r.pickUser(o, own)
	if admins := o.admins(); len(admins) == 1 && r.chance(25) {
		id, target, why = admins[0].id, admins[0], ""
	}
	rep := r.call(o, m, "DELETE", userPath(id), nil)
	switch {
	case m.role != "ADMIN":
		r.expect(rep, http.StatusForbidden, "forbidden", "a USER may not remove members")
		return
	case target == nil:
		r.expect(rep, http.StatusNotFound, "user_not_found", why)
		return
	case target.role == "ADMIN" && len(o.admins()) == 1:
		r.expect(rep, http.StatusConflict, "last_admin", "removing the only ADMIN")
		return
	}
	r.expect(rep, http.StatusNoContent, "", "an ADMIN removes a member")
	o.members = slices.DeleteFunc(o.members, func(x *pMember) bool { return x == target })
	o.gone = append(o.gone, target)
	for _, tid := range o.liveIDs() {
		if tk := o.tasks[tid]; tk.AssigneeID != nil && *tk.AssigneeID == target.id {
			tk.AssigneeID, tk.Version, tk.stale = nil, tk.Version+1, true
		}
	}
}

func (r *propRun) opUsers(o *pOrg) {
	r.t.Helper()
	r.checkUsers(o, r.actor(o, false))
}

func (r *propRun) checkUsers(o *pOrg, m *pMember) {
	r.t.Helper()
	rep := r.call(o, m, "GET", "/users", nil)
	r.expect(rep, http.StatusOK, "", "any member lists the members")
	var got []pUser
	r.decode(rep, &got)
	slices.SortFunc(got, func(a, b pUser) int { return cmp.Compare(a.ID, b.ID) })
	if len(got) != len(o.members) {
		var want []int64
		for _, x := range o.members {
			want = append(want, x.id)
		}
		r.failf("%s\n%d members, the model has %d: %v", rep, len(got), len(o.members), want)
	}
	for i := range got {
		r.sameUser(rep, got[i], o.members[i])
	}
}

func (r *propRun) opMe(o *pOrg) {
	r.t.Helper()
	m := r.actor(o, false)
	rep := r.call(o, m, "GET", "/me", nil)
	r.expect(rep, http.StatusOK, "", "any member reads their profile")
	var got pUser
	r.decode(rep, &got)
	r.sameUser(rep, got, m)
}

// opGhost: a removed member's token is refused, whatever it asks.
func (r *propRun) opGhost(o *pOrg) {
	r.t.Helper()
	if len(o.gone) == 0 {
		r.opMe(o)
		return
	}
	g := o.gone[r.rng.IntN(len(o.gone))]
	var rep reply
	switch r.rng.IntN(4) {
	case 0:
		rep = r.call(o, g, "GET", "/me", nil)
	case 1:
		rep = r.call(o, g, "GET", "/tasks", nil)
	case 2:
		rep = r.call(o, g, "POST", "/tasks", map[string]any{"title": r.title(o)})
	default:
		rep = r.call(o, g, "PATCH", userPath(g.id), map[string]any{"role": "ADMIN"})
	}
	r.expect(rep, http.StatusUnauthorized, "unauthenticated", "the member was removed")
}

// finalCheck: every organization's whole list and member list, as the
// model has them.
func (r *propRun) finalCheck() {
	r.t.Helper()
	for _, o := range r.orgs {
		m := o.admins()[0]
		if m.ended {
			r.renew(m)
		}
		want := o.filtered("", nil)
		path := "/tasks?limit=100"
		var all []pTask
		for path != "" {
			rep := r.call(o, m, "GET", path, nil)
			r.expect(rep, http.StatusOK, "", "the final listing")
			var page []pTask
			r.decode(rep, &page)
			all = append(all, page...)
			path = ""
			if lm := propLinkNext.FindStringSubmatch(rep.header.Get("Link")); lm != nil {
				u, _ := url.Parse(lm[1])
				path = u.RequestURI()
			}
		}
		if len(all) != len(want) {
			r.failf("org#%d lists %v, the model has %v", o.n, propIDs(all), propModelIDs(want))
		}
		for i := range all {
			r.sameTask(reply{method: "GET", path: "/tasks (final walk)"}, all[i], want[i])
		}
		r.checkUsers(o, m)
		r.t.Logf("org#%d: %d tasks (%d deleted), %d members (%d removed)", o.n, len(o.tasks), len(o.deleted), len(o.members), len(o.gone))
	}
	keys := make([]string, 0, len(r.outcomes))
	for k := range r.outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s:%d", k, r.outcomes[k])
	}
	r.t.Logf("answers:%s", b.String())
}
