package main

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// encodeCursor is the service's list cursor for "the tasks after id" in
// the default order with the given status filter ("" for none): since a
// cursor is bound to its query, the benchmark asks the service's own
// encoder (application.CursorAfterID), as a client could not.
func encodeCursor(status string, id int64) string {
	var q application.ListQuery
	if status != "" {
		st := domain.Status(status)
		q.Status = &st
	}
	c, err := application.CursorAfterID(q, domain.TaskID(id))
	if err != nil {
		panic(err) // the benchmark's own queries are valid
	}
	return c
}

// listKey is one list query: the store's filter, in the service's terms.
type listKey struct {
	org    int64
	status string // "" for none
	limit  int
	before int64 // cursor id, 0 for none
	offset int
}

var listStatuses = [...]string{"", "CREATED", "IN_PROGRESS", "COMPLETED"}

const (
	uncachedLimits  = 11  // limits 5..15: about ten rows a page, as a first page
	uncachedCursors = 900 // cursor positions per (org, status, limit)
)

// uncachedKeySpace is how many distinct uncached-list keys orgs
// organizations give.
func uncachedKeySpace(orgs int) uint64 {
	return uint64(orgs) * uncachedLimits * uint64(len(listStatuses)) * uncachedCursors
}

// uncachedKey maps k (taken modulo the key space) to a list query no
// other k below the key space repeats, so every request of a run misses
// the list cache: an organization of the seeded ones, a status filter or
// none, a limit of 5 to 15 and a cursor in the newest 900 of its 1,000
// tasks (so every page is full, with a status filter too).
func uncachedKey(read []org, k uint64) listKey {
	k %= uncachedKeySpace(len(read))
	o := read[k%uint64(len(read))]
	j := k / uint64(len(read))
	limit := 5 + int(j%uncachedLimits)
	j /= uncachedLimits
	status := listStatuses[j%uint64(len(listStatuses))]
	j /= uint64(len(listStatuses))
	before := o.hi + 1 - int64(j%uncachedCursors)
	return listKey{org: o.id, status: status, limit: limit, before: before}
}

func (k listKey) path() string {
	p := "/tasks?limit=" + strconv.Itoa(k.limit)
	if k.status != "" {
		p += "&status=" + k.status
	}
	if k.before > 0 {
		p += "&cursor=" + encodeCursor(k.status, k.before)
	}
	if k.offset > 0 {
		p += "&page=" + strconv.Itoa(k.offset/k.limit+1)
	}
	return p
}

// pick spreads request seq over n items.
func pick(seq uint64, n int) int { return int(seq % uint64(n)) }

// taskOf returns a seeded task of organization o for request seq, walking
// its range with a stride so that consecutive requests read scattered rows.
func taskOf(o org, seq uint64) int64 {
	n := uint64(o.hi - o.lo + 1)
	return o.lo + int64((seq*7919)%n)
}

// Request generators, one per scenario. base is the server's URL (the
// service or the ceiling).

func genCachedList(base string, ds *dataset) func(int, uint64) (request, bool) {
	return func(_ int, seq uint64) (request, bool) {
		o := ds.read[pick(seq, len(ds.read))]
		return request{method: "GET", url: base + "/tasks?limit=10", token: o.token, expect: http.StatusOK}, true
	}
}

func genUncachedList(base string, ds *dataset, offset uint64) func(int, uint64) (request, bool) {
	tokens := map[int64]string{}
	for _, o := range ds.read {
		tokens[o.id] = o.token
	}
	return func(_ int, seq uint64) (request, bool) {
		k := uncachedKey(ds.read, seq+offset)
		return request{method: "GET", url: base + k.path(), token: tokens[k.org], expect: http.StatusOK}, true
	}
}

// hotTasksPerOrg is the working set of GET /tasks/{id}: like the cached
// list (always page 1), single-task reads repeat over the tasks people are
// looking at, here ten per organization, so the read cache is what is
// measured ("it may be cached", issue 5). Misses come from the first pass
// and from the mixed run's writes.
const hotTasksPerOrg = 10

func genGetTask(base string, ds *dataset) func(int, uint64) (request, bool) {
	return func(_ int, seq uint64) (request, bool) {
		o := ds.read[pick(seq, len(ds.read))]
		id := taskOf(o, (seq/uint64(len(ds.read)))%hotTasksPerOrg)
		return request{method: "GET", url: base + "/tasks/" + strconv.FormatInt(id, 10), token: o.token, expect: http.StatusOK}, true
	}
}

var createBody = []byte(`{"title":"bench task","status":"CREATED"}`)

func genCreateTask(base string, ds *dataset) func(int, uint64) (request, bool) {
	return func(int, uint64) (request, bool) {
		return request{method: "POST", url: base + "/tasks", token: ds.writes.token, body: createBody, expect: http.StatusCreated}, true
	}
}

func genTransition(base string, ds *dataset, pool *idPool) func(int, uint64) (request, bool) {
	return func(int, uint64) (request, bool) {
		id, ok := pool.take()
		if !ok {
			return request{}, false
		}
		return request{method: "PUT", url: base + "/tasks/" + strconv.FormatInt(id, 10) + "?new_status=IN_PROGRESS",
			token: ds.writes.token, expect: http.StatusOK}, true
	}
}

// The deep scenarios read the deep organization through the uncached path:
// each request names a different page or cursor (so a different cache
// key), all within 1% of the same depth for offsets, and within a few
// percent for cursors (whose cost does not depend on depth).

func genOffsetDepth(base string, ds *dataset) func(int, uint64) (request, bool) {
	first := ds.depth/10 + 1
	return func(_ int, seq uint64) (request, bool) {
		page := first + int(seq%5000)
		return request{method: "GET", url: base + "/tasks?limit=10&page=" + strconv.Itoa(page), token: ds.deep.token, expect: http.StatusOK}, true
	}
}

func genCursorAt(base string, ds *dataset, before int64) func(int, uint64) (request, bool) {
	span := uint64(max(before-ds.deep.lo-20, 1))
	return func(_ int, seq uint64) (request, bool) {
		id := before - int64(seq%span)
		return request{method: "GET", url: base + "/tasks?limit=10&cursor=" + encodeCursor("", id), token: ds.deep.token, expect: http.StatusOK}, true
	}
}

// genDueCursor asks sort=due pages of the deep organization after a
// cursor at r, each request a different cursor (so a different cache
// key) that starts the page at the same place. In the dated part the
// cursor's due date moves on by a microsecond per request: no seeded task
// is due between two whole hours, so every one of them starts the page
// just after r's due date. In the undated tail, where the key is the same
// for all, the id moves down by one per request, as genCursorAt's do.
func genDueCursor(base string, ds *dataset, r dueRow) func(int, uint64) (request, bool) {
	span := uint64(max(r.id-ds.deep.lo-20, 1))
	return func(_ int, seq uint64) (request, bool) {
		c := ports.TaskCursor{ID: domain.TaskID(r.id)}
		if r.due != nil {
			at := r.due.Add(time.Duration(seq%3_000_000_000) * time.Microsecond)
			c.Time = &at
		} else {
			c.ID -= domain.TaskID(seq % span)
		}
		cur, err := application.CursorAfter(application.ListQuery{Sort: ports.SortDue}, c)
		if err != nil {
			panic(err) // the benchmark's own queries are valid
		}
		return request{method: "GET", url: base + "/tasks?limit=10&sort=due&cursor=" + cur, token: ds.deep.token, expect: http.StatusOK}, true
	}
}

// genDueTop asks page 1 of sort=due, the reference of the due_cursor
// scenarios: a cursor before the first task (due one microsecond after
// the year 1, before any seeded date), moving as genDueCursor's do.
func genDueTop(base string, ds *dataset) func(int, uint64) (request, bool) {
	first := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	return genDueCursor(base, ds, dueRow{due: &first, id: ds.topBefore})
}

// genSearch is the search scenario: q=searchQuery (two words, 1.25% of
// the deep organization's tasks) through the uncached path, as
// list_top_uncached reads its unfiltered pages: each request a cursor
// (bound to the q) at another id, so another cache key; a keyset page
// costs the same at any id.
func genSearch(base string, ds *dataset) func(int, uint64) (request, bool) {
	q := searchQuery
	span := uint64(max(ds.topBefore-ds.deep.lo-20, 1))
	return func(_ int, seq uint64) (request, bool) {
		c, err := application.CursorAfterID(application.ListQuery{Q: &q}, domain.TaskID(ds.topBefore-int64(seq%span)))
		if err != nil {
			panic(err) // the benchmark's own query is valid
		}
		return request{method: "GET", url: base + "/tasks?limit=10&q=" + url.QueryEscape(q) + "&cursor=" + c,
			token: ds.deep.token, expect: http.StatusOK}, true
	}
}

func genLogin(base string, ds *dataset) func(int, uint64) (request, bool) {
	bodies := make([][]byte, len(ds.read))
	for i, o := range ds.read {
		bodies[i] = []byte(`{"email":"` + o.email + `","password":"` + o.password + `"}`)
	}
	return func(_ int, seq uint64) (request, bool) {
		return request{method: "POST", url: base + "/login", body: bodies[pick(seq, len(bodies))], expect: http.StatusOK}, true
	}
}

// genMixed is 90% reads and 10% writes over the seeded organizations: of
// every ten requests one POST /tasks (which invalidates that
// organization's cached lists), five GET /tasks?limit=10 and four GET
// /tasks/{id}.
func genMixed(base string, ds *dataset) func(int, uint64) (request, bool) {
	list, get := genCachedList(base, ds), genGetTask(base, ds)
	return func(w int, seq uint64) (request, bool) {
		switch r := seq % 10; {
		case r == 0:
			o := ds.read[pick(seq/10, len(ds.read))]
			return request{method: "POST", url: base + "/tasks", token: o.token, body: createBody, expect: http.StatusCreated}, true
		case r <= 5:
			return list(w, seq/10*5+r-1)
		default:
			return get(w, seq/10*4+r-6)
		}
	}
}
