package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// BenchmarkList measures the uncached list's store call: one page of ten
// (eleven rows read) from an organization of fifty tasks.
func BenchmarkList(b *testing.B, s ports.Stores) {
	ctx := b.Context()
	o, err := domain.NewOrganization(unique("bench"), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, o); err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		tk, err := domain.NewTask(o.ID, 1, fmt.Sprint("task ", i), "a description of some length", nil, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Tasks.Create(ctx, tk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		page, err := s.Tasks.List(ctx, o.ID, ports.TaskFilter{Limit: 10})
		if err != nil || len(page.Tasks) != 10 || !page.HasMore {
			b.Fatalf("List = %d tasks, more %v, %v", len(page.Tasks), page.HasMore, err)
		}
	}
}
