package sqlite_test

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// FuzzTextSearch: whatever q a client sends, once the use case has
// accepted it (domain.ParseSearch), the FTS5 query the store writes from
// it is never an error (no FTS5 syntax gets through), and a task whose
// title is that q is found by it.
func FuzzTextSearch(f *testing.F) {
	for _, seed := range []string{"release", `"a" OR b*`, "NEAR(a b)", "a AND NOT b", "x:y", "^a", "'a' & !b | c:*",
		"été ΣΟΦΟΣ हिन्दी 東京", "a-b_c.d@e", `""""`, "col:word", "{a b}:c", "a + b", "*"} {
		f.Add(seed)
	}
	stores := newStore(openMigrated(f)).Stores()
	ctx := f.Context()
	org := &domain.Organization{Name: "fuzz", CreatedAt: time.Now()}
	if err := stores.Orgs.Create(ctx, org); err != nil {
		f.Fatal(err)
	}
	admin := &domain.User{OrgID: org.ID, Email: "fuzz@example.test", PasswordHash: "x", Role: domain.RoleAdmin, CreatedAt: time.Now()}
	if err := stores.Users.Create(ctx, admin); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		words, err := domain.ParseSearch("q", q)
		if err != nil {
			return
		}
		if _, err := stores.Tasks.List(ctx, org.ID, ports.TaskFilter{Limit: 10, Search: words}); err != nil {
			t.Fatalf("q=%q (words %q): %v", q, words, err)
		}
		tk, err := domain.NewTask(org.ID, admin.ID, q, "", nil, time.Now())
		if err != nil {
			return // not a title
		}
		if err := stores.Tasks.Create(ctx, tk); err != nil {
			t.Fatalf("create %q: %v", q, err)
		}
		page, err := stores.Tasks.List(ctx, org.ID, ports.TaskFilter{Limit: 10, Search: words})
		if err != nil || len(page.Tasks) == 0 || page.Tasks[0].ID != tk.ID {
			t.Fatalf("q=%q: the task titled so is not found first: %+v, %v", q, page.Tasks, err)
		}
	})
}
