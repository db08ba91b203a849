package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// fixedPicture is a run's picture with every kind of row: ratios met and
// missed, a ratio with no goal, figures in MB and ms, the errors dot, and
// scenarios from microseconds to seconds, one of them noisy.
func fixedPicture() picture {
	m := machine{
		ratios:    []namedValue{{scCachedList, 0.596}, {scUncachedList, 0.641}, {scCreateTask, 0.234}, {"rls_wrapper", 0.912}},
		cursorP50: 1.075, dueCursorP50: math.NaN(), dueTailP50: math.NaN(), scaleListP50: 1.043,
		rssMB: 39.8, scaleRSSMB: 61.2, floodP99Ms: 28.2, searchMs: math.NaN(), topMs: math.NaN(), revokedFloodP99Ms: math.NaN(),
	}
	return picture{
		when:     time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		commit:   "0f0f04d1a2b3",
		subtitle: "seed 100 orgs x 1000 tasks + one of 1000000 <& more>",
		goals:    evaluate(m),
		runs: []runTiming{
			{name: "cached_list (memory)", p50: 1830 * time.Microsecond, p99: 8090 * time.Microsecond},
			{name: "login (memory)", p50: 1120 * time.Millisecond, p99: 1220 * time.Millisecond, noisy: true},
			{name: "nothing answered (memory)"},
			{name: "get_task (memory)", p50: 640 * time.Microsecond, p99: 7 * time.Millisecond},
		},
	}
}

func TestRenderSVG_is_well_formed_and_shows_each_ratio(t *testing.T) {
	t.Parallel()
	pic := fixedPicture()
	out := renderSVG(pic)

	dec := xml.NewDecoder(bytes.NewReader(out))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root element in namespace %q, want the SVG one", tok.Name.Space)
				}
			}
		case xml.CharData:
			text.Write(tok)
			text.WriteByte('\n')
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	shown := text.String()
	for _, g := range pic.goals {
		if !strings.HasPrefix(g.line, "RATIO ") {
			continue
		}
		if !strings.Contains(shown, g.line) || !strings.Contains(shown, fmt.Sprintf("%.3f", g.value)) {
			t.Errorf("the picture does not show %s %.3f", g.line, g.value)
		}
	}
	for _, want := range []string{"RATIO rls_wrapper", "no target", "SCALE_LIST_P50_RATIO", "1.043", "SCALE_RSS_MB", "61.2 MB",
		"MISSED", "commit 0f0f04d1a2b3", "2026-12-01 09:00 UTC", "<& more>", "p50 1.83ms, p99 8.09ms", "login (memory) *"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the picture's text lacks %q", want)
		}
	}
}

func TestRenderSVG_same_figures_same_bytes(t *testing.T) {
	t.Parallel()
	if a, b := renderSVG(fixedPicture()), renderSVG(fixedPicture()); !bytes.Equal(a, b) {
		t.Fatal("two renderings of the same figures differ")
	}
}

func TestEvaluate_follows_the_goal_table(t *testing.T) {
	t.Parallel()
	m := machine{ratios: []namedValue{{scLogin, 0.95}, {"rls_wrapper", 0.9}}, cursorP50: 1.6, dueCursorP50: math.NaN(),
		dueTailP50: math.NaN(), rssMB: math.NaN(), floodP99Ms: math.NaN(), scaleListP50: 1.1, scaleRSSMB: 120,
		revokedFloodP99Ms: math.NaN(), searchMs: math.NaN()}
	var got []string
	for _, g := range evaluate(m) {
		got = append(got, fmt.Sprintf("%s=%g %s %v", g.line, g.value, g.targetText(), g.met()))
	}
	want := []string{
		"RATIO login=0.95 >= 0.9 true",
		"CURSOR_DEPTH_P50=1.6 <= 1.5 false",
		"SCALE_LIST_P50_RATIO=1.1 <= 1.2 true",
		"SCALE_RSS_MB=120 <= 100 false",
		"errors=0 0 true",
		"RATIO rls_wrapper=0.9 none true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("evaluate:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScaleMixed_visits_every_organization_with_every_kind(t *testing.T) {
	t.Parallel()
	orgs := make([]org, 30)
	for i := range orgs {
		orgs[i] = org{id: int64(i + 1), lo: int64(i*20 + 1), hi: int64(i*20 + 20), token: fmt.Sprint("tok", i)}
	}
	gen := genScaleMixed("http://x", orgs)
	kinds := map[string]int{}
	seen := map[string]map[string]bool{}
	for seq := range uint64(len(orgs) * 10) {
		rq, ok := gen(0, seq)
		if !ok {
			t.Fatal("the generator ran out")
		}
		kind := rq.method + " " + strings.SplitN(strings.SplitN(rq.url, "?", 2)[0], "/", 5)[3]
		switch {
		case strings.Contains(rq.url, "cursor="):
			kind = "GET uncached"
		case strings.HasPrefix(rq.url, "http://x/tasks/"):
			kind = "GET task"
		}
		kinds[kind]++
		if seen[rq.token] == nil {
			seen[rq.token] = map[string]bool{}
		}
		seen[rq.token][kind] = true
	}
	if want := map[string]int{"POST tasks": 30, "GET tasks": 120, "GET uncached": 30, "GET task": 120}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("kinds over ten turns: %v, want %v", kinds, want)
	}
	if len(seen) != len(orgs) {
		t.Errorf("%d organizations asked, want %d", len(seen), len(orgs))
	}
	for tok, k := range seen {
		if len(k) != 4 {
			t.Errorf("organization %s got only %v in ten turns", tok, k)
		}
	}
}
