package application

import (
	"reflect"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// TestFilterKey_EveryFieldIsPartOfTheKey: a cached list is keyed by
// filterKey, so two filters differing in any one field must get two keys,
// or one query is answered with the other's page. Every field of
// ports.TaskFilter is set in turn (a field added without a value here
// fails the test), and each key differs from every other.
func TestFilterKey_EveryFieldIsPartOfTheKey(t *testing.T) {
	status, prio, label := domain.StatusCreated, domain.PriorityHigh, "release"
	assignee, before := domain.UserID(3), domain.TaskID(9)
	at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	values := map[string]func(*ports.TaskFilter){
		"Status":     func(f *ports.TaskFilter) { f.Status = &status },
		"Assignee":   func(f *ports.TaskFilter) { f.Assignee = &assignee },
		"Unassigned": func(f *ports.TaskFilter) { f.Unassigned = true },
		"Priority":   func(f *ports.TaskFilter) { f.Priority = &prio },
		"Label":      func(f *ports.TaskFilter) { f.Label = &label },
		"DueBefore":  func(f *ports.TaskFilter) { f.DueBefore = &at },
		"DueAfter":   func(f *ports.TaskFilter) { f.DueAfter = &at },
		"Search":     func(f *ports.TaskFilter) { f.Search = []string{"release", "notes"} },
		"Limit":      func(f *ports.TaskFilter) { f.Limit = 20 },
		"Offset":     func(f *ports.TaskFilter) { f.Offset = 20 },
		"Sort":       func(f *ports.TaskFilter) { f.Sort = ports.SortDue },
		"After":      func(f *ports.TaskFilter) { f.After = &ports.TaskCursor{ID: before} },
	}
	base := ports.TaskFilter{Limit: 10}
	seen := map[string]string{filterKey(base): "none"}
	for i := range reflect.TypeFor[ports.TaskFilter]().NumField() {
		name := reflect.TypeFor[ports.TaskFilter]().Field(i).Name
		set, ok := values[name]
		if !ok {
			t.Fatalf("TaskFilter.%s has no value in this test: add one, and add the field to filterKey", name)
		}
		f := base
		set(&f)
		k := filterKey(f)
		if other, dup := seen[k]; dup {
			t.Errorf("setting %s gives the key %q, as %s does", name, k, other)
		}
		seen[k] = name
	}

	// A label is free text: it must not be able to spell another
	// filter's key.
	forged := "x&p=HIGH"
	withLabel, withBoth := base, base
	withLabel.Label = &forged
	x := "x"
	withBoth.Label, withBoth.Priority = &x, &prio
	if filterKey(withLabel) == filterKey(withBoth) {
		t.Errorf("label %q and label x with priority HIGH share the key %q", forged, filterKey(withLabel))
	}

	// Nor can a label spell a search, or one search another.
	forged = "x&q=1:y"
	withLabel, withBoth = base, base
	withLabel.Label = &forged
	withBoth.Label, withBoth.Search = &x, []string{"y"}
	if filterKey(withLabel) == filterKey(withBoth) {
		t.Errorf("label %q and label x with q=y share the key %q", forged, filterKey(withLabel))
	}
}
