package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// scRevokedFlood measures the cached list while other connections flood
// the service with well-signed access tokens whose sessions were logged
// out: each is refused (401) from the session-check cache, which
// remembers the refusal, rather than by a session query of its own.
const scRevokedFlood = "revoked_token_flood"

// revokedFloodRow is the row its cached-list measurement is reported as.
// (short enough for the report's scenario column).
const revokedFloodRow = "revoked_cached_list_p99"

// revokedSessions is how many sessions the flood's tokens name: two
// logins of each of the first few seeded ADMINs, each logged out.
const revokedSessions = 8

// revokedFlood logs seeded ADMINs in again (sessions of their own, apart
// from the tokens the other scenarios use), logs those sessions out, and
// measures the cached list while -concurrency connections send GET
// /tasks?limit=10 with the logged-out tokens, each answered 401.
func (b *bench) revokedFlood(ctx context.Context) error {
	o := b.o
	tokens, err := revokedTokens(ctx, b.srv.base, b.ds.read)
	if err != nil {
		return fmt.Errorf("%s: %w", scRevokedFlood, err)
	}
	floodClient := newClient(o.conc)
	defer floodClient.CloseIdleConnections()
	waitQuiet(o.quietWait, 0.15)
	b.logf("%s: %d connections of GET /tasks with %d logged-out tokens in the background", scRevokedFlood, o.conc, len(tokens))
	stop := background(ctx, o.conc, httpOp(floodClient, genRevoked(b.srv.base, tokens)))
	// Let the flood reach its pace before measuring.
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	r, err := b.measureWith(ctx, revokedFloodRow, "", o.conc, o.duration, o.warmup, 0,
		func() (httpGen, error) { return genCachedList(b.srv.base, b.ds), nil })
	okN, failN, errs := stop()
	if err != nil {
		return err
	}
	r.note = fmt.Sprintf("during a flood of %d connections with %d logged-out tokens: %d answered 401, %d otherwise",
		o.conc, len(tokens), okN, failN)
	if len(errs) > 0 {
		r.note += " (" + strings.Join(errs, " | ") + ")"
	}
	note := fmt.Sprintf("%s (%s): cached lists at %d connections while %d connections send GET /tasks?limit=10 with access "+
		"tokens of logged-out sessions (%d sessions of the first seeded ADMINs), each answered 401; "+
		"REVOKED_FLOOD_CACHED_LIST_P99_MS is the worse backend's p99.", revokedFloodRow, scRevokedFlood, o.conc, o.conc, len(tokens))
	if !slices.Contains(b.notes, note) { // once for all backends
		b.notes = append(b.notes, note)
	}
	return nil
}

// revokedTokens logs in and then out revokedSessions sessions of the
// first seeded organizations' ADMINs and returns their access tokens.
func revokedTokens(ctx context.Context, base string, orgs []org) ([]string, error) {
	if len(orgs) == 0 {
		return nil, fmt.Errorf("no seeded organization")
	}
	client := newClient(1)
	defer client.CloseIdleConnections()
	tokens := make([]string, 0, revokedSessions)
	for i := range revokedSessions {
		o := orgs[(i/2)%len(orgs)]
		tok, err := login(ctx, client, base, o.email, o.password)
		if err != nil {
			return nil, err
		}
		if err := callJSON(ctx, client, "POST", base+"/logout", tok, map[string]any{}, http.StatusNoContent, nil); err != nil {
			return nil, err
		}
		tokens = append(tokens, tok)
	}
	return tokens, nil
}

// genRevoked is GET /tasks?limit=10 with each of tokens in turn, expecting
// 401.
func genRevoked(base string, tokens []string) func(int, uint64) (request, bool) {
	return func(_ int, seq uint64) (request, bool) {
		return request{method: "GET", url: base + "/tasks?limit=10", token: tokens[pick(seq, len(tokens))],
			expect: http.StatusUnauthorized}, true
	}
}

// revokedFloodP99Ms is the worse backend's cached-list p99 during the
// flood, in ms; NaN when the scenario did not run.
func revokedFloodP99Ms(rows []*row) float64 {
	v := math.NaN()
	for _, r := range rows {
		if r.scenario != revokedFloodRow {
			continue
		}
		if x := float64(r.res.hist.quantile(0.99)) / 1e6; math.IsNaN(v) || x > v {
			v = x
		}
	}
	return v
}
