package storetest

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// textTask creates a task of org with the given title, description and
// priority.
func (f *fixture) textTask(t *testing.T, org domain.OrgID, by domain.UserID, title, description string,
	p domain.Priority) *domain.Task {
	t.Helper()
	tk, err := domain.NewTask(org, by, title, description, nil, t0)
	wantNoErr(t, "new task", err)
	wantNoErr(t, "priority", tk.SetPriority(p))
	wantNoErr(t, "create", f.s.Tasks.Create(f.ctx, tk))
	return tk
}

// search lists org's tasks matching q (parsed as the use case parses it)
// in the default order.
func (f *fixture) search(t *testing.T, org domain.OrgID, q string) []domain.TaskID {
	t.Helper()
	words, err := domain.ParseSearch("q", q)
	wantNoErr(t, "parse "+q, err)
	page, err := f.s.Tasks.List(f.ctx, org, ports.TaskFilter{Limit: 100, Search: words})
	wantNoErr(t, "search "+q, err)
	return ids(page.Tasks)
}

// Both stores run these with the same expectations: the same words find
// the same tasks on Postgres and SQLite.
var taskSearchTests = []test{
	{"search_matches_every_word_whole_and_case_insensitively_in_title_or_description", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		m := domain.PriorityMedium
		a := f.textTask(t, o.ID, admin.ID, "Launch the Product", "Email bob@example.com about v1.2, then launch.", m)
		b := f.textTask(t, o.ID, admin.ID, "launch-pad review", "Été: réunion générale", m)
		c := f.textTask(t, o.ID, admin.ID, "Productivity notes", "", m)
		d := f.textTask(t, o.ID, admin.ID, "STRASSE ΣΟΦΟΣ", "हिन्दी खोज and 東京", m)
		// Another tenant whose task matches every query below: never listed.
		other, otherAdmin := f.orgWithAdmin()
		f.textTask(t, other.ID, otherAdmin.ID,
			"launch product productivity pad example com bob v1 2 été σοφος strasse",
			"हिन्दी खोज 東京 réunion notes", m)

		for _, c := range []struct {
			q    string
			want []domain.TaskID
		}{
			{"launch", []domain.TaskID{b.ID, a.ID}},
			{"LAUNCH", []domain.TaskID{b.ID, a.ID}},
			{"product", []domain.TaskID{a.ID}}, // whole words: not "Productivity"
			{"produc", []domain.TaskID{}},      // no prefix matches
			{"productivity", []domain.TaskID{c.ID}},
			{"Product launch", []domain.TaskID{a.ID}},
			{"launch pad", []domain.TaskID{b.ID}},
			{"launch-pad", []domain.TaskID{b.ID}},
			{"bob@example.com", []domain.TaskID{a.ID}},
			{"example", []domain.TaskID{a.ID}},
			{"v1.2", []domain.TaskID{a.ID}},
			{"ÉTÉ réunion", []domain.TaskID{b.ID}},
			{"ete", []domain.TaskID{}}, // diacritics matter
			{"σοφος", []domain.TaskID{d.ID}},
			{"strasse", []domain.TaskID{d.ID}},
			{"हिन्दी", []domain.TaskID{d.ID}},
			{"東京", []domain.TaskID{d.ID}},
			{"launch absent", []domain.TaskID{}},
			{"notes", []domain.TaskID{c.ID}},
			// Query syntax of either database is only text here.
			{`launch & !product | "pad" :* (x) NEAR OR AND NOT`, []domain.TaskID{}},
			{`"launch" OR`, []domain.TaskID{}},
			{"'launch'", []domain.TaskID{b.ID, a.ID}},
			{`review*`, []domain.TaskID{b.ID}},
		} {
			wantEqual(t, "q="+c.q, f.search(t, o.ID, c.q), c.want)
		}
	}},
	{"search_combines_with_filters_sorts_and_cursors", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		prios := []domain.Priority{domain.PriorityLow, domain.PriorityUrgent, domain.PriorityHigh}
		var matching []*domain.Task
		for i := range 9 {
			desc := "alpha beta"
			if i%3 == 0 {
				desc = "alpha only"
			}
			tk := f.textTask(t, o.ID, admin.ID, "task", desc, prios[i%3])
			if desc == "alpha beta" {
				matching = append(matching, tk)
			}
		}
		words, err := domain.ParseSearch("q", "beta alpha")
		wantNoErr(t, "parse", err)
		urgent := domain.PriorityUrgent
		page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 10, Search: words, Priority: &urgent})
		wantNoErr(t, "search and priority", err)
		wantEqual(t, "search and priority", ids(page.Tasks), []domain.TaskID{matching[4].ID, matching[2].ID, matching[0].ID})

		// -priority, two at a time by cursor: URGENT (ids descending),
		// then HIGH.
		want := []domain.TaskID{matching[4].ID, matching[2].ID, matching[0].ID,
			matching[5].ID, matching[3].ID, matching[1].ID}
		var got []domain.TaskID
		flt := ports.TaskFilter{Limit: 2, Search: words, Sort: ports.SortPriorityDesc}
		for range 10 {
			page, err := f.s.Tasks.List(f.ctx, o.ID, flt)
			wantNoErr(t, "page", err)
			got = append(got, ids(page.Tasks)...)
			if !page.HasMore {
				break
			}
			c := ports.CursorOf(flt.Sort, &page.Tasks[len(page.Tasks)-1])
			flt.After = &c
		}
		wantEqual(t, "-priority by cursor", got, want)

		// Every sort, two at a time by cursor, sees the matching tasks
		// once each, in the order of one full page (the creation sorts
		// bound the search index by the cursor's id).
		for _, sort := range ports.TaskSorts {
			page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 100, Search: words, Sort: sort})
			wantNoErr(t, "full page", err)
			var walked []domain.TaskID
			flt := ports.TaskFilter{Limit: 2, Search: words, Sort: sort}
			for range 10 {
				p, err := f.s.Tasks.List(f.ctx, o.ID, flt)
				wantNoErr(t, "page", err)
				walked = append(walked, ids(p.Tasks)...)
				if !p.HasMore {
					break
				}
				c := ports.CursorOf(sort, &p.Tasks[len(p.Tasks)-1])
				flt.After = &c
			}
			wantEqual(t, string(sort)+" by cursor", walked, ids(page.Tasks))
			wantEqual(t, string(sort)+" count", len(walked), len(matching))
		}
	}},
	{"search_index_follows_updates_and_deletes", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.textTask(t, o.ID, admin.ID, "Quarterly report", "draft figures", domain.PriorityMedium)
		keep := f.textTask(t, o.ID, admin.ID, "Quarterly review", "", domain.PriorityMedium)
		wantEqual(t, "before", f.search(t, o.ID, "quarterly report"), []domain.TaskID{tk.ID})

		// Another field changes: still found.
		_, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(tk *domain.Task) error {
			return tk.Transition(domain.StatusInProgress, t0.Add(time.Minute))
		})
		wantNoErr(t, "transition", err)
		wantEqual(t, "after a transition", f.search(t, o.ID, "report draft"), []domain.TaskID{tk.ID})

		// Title and description change: the old words no longer find it.
		_, err = f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(tk *domain.Task) error {
			if err := tk.SetTitle("Annual summary"); err != nil {
				return err
			}
			return tk.SetDescription("final numbers")
		})
		wantNoErr(t, "edit", err)
		wantEqual(t, "old words", f.search(t, o.ID, "report"), []domain.TaskID{})
		wantEqual(t, "old description", f.search(t, o.ID, "draft"), []domain.TaskID{})
		wantEqual(t, "new words", f.search(t, o.ID, "annual numbers"), []domain.TaskID{tk.ID})
		wantEqual(t, "shared word", f.search(t, o.ID, "quarterly"), []domain.TaskID{keep.ID})

		_, err = f.s.Tasks.Delete(f.ctx, o.ID, tk.ID, 0)
		wantNoErr(t, "delete", err)
		wantEqual(t, "deleted", f.search(t, o.ID, "annual"), []domain.TaskID{})
		wantEqual(t, "the other stays", f.search(t, o.ID, "review"), []domain.TaskID{keep.ID})
	}},
}
