package domain_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

func TestTask_Transition(t *testing.T) {
	now := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	all := []domain.Status{domain.StatusCreated, domain.StatusInProgress, domain.StatusCompleted}
	allowed := map[[2]domain.Status]bool{
		{domain.StatusCreated, domain.StatusInProgress}:   true,
		{domain.StatusInProgress, domain.StatusCompleted}: true,
	}
	for _, from := range all {
		for _, to := range all {
			name := strings.ToLower(string(from) + "_to_" + string(to))
			want := allowed[[2]domain.Status{from, to}]
			if want {
				name += "_is_allowed"
			} else {
				name += "_is_rejected"
			}
			t.Run(name, func(t *testing.T) {
				task := &domain.Task{Status: from, UpdatedAt: now.Add(-time.Hour)}
				err := task.Transition(to, now)
				if want {
					if err != nil {
						t.Fatalf("Transition: %v", err)
					}
					if task.Status != to || !task.UpdatedAt.Equal(now) {
						t.Fatalf("task = %+v, want status %s updated at %v", task, to, now)
					}
					return
				}
				if !errors.Is(err, domain.ErrInvalidTransition) || domain.KindOf(err) != domain.KindConflict {
					t.Fatalf("Transition err = %v, want invalid_status_transition conflict", err)
				}
				if task.Status != from {
					t.Fatalf("status changed to %s on a refused transition", task.Status)
				}
				var de *domain.Error
				if !errors.As(err, &de) {
					t.Fatalf("Transition err = %T, want *domain.Error", err)
				}
				if want, got := "cannot move a task from "+string(from)+" to "+string(to), de.Message; got != want {
					t.Fatalf("message = %q, want %q", got, want)
				}
			})
		}
	}
	t.Run("unknown_status_is_rejected", func(t *testing.T) {
		task := &domain.Task{Status: domain.StatusCreated}
		if err := task.Transition("DONE", now); !errors.Is(err, domain.ErrInvalidTransition) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParseStatus(t *testing.T) {
	for _, s := range []string{"CREATED", "IN_PROGRESS", "COMPLETED"} {
		if got, err := domain.ParseStatus("status", s); err != nil || string(got) != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "created", "DONE", "IN PROGRESS"} {
		if _, err := domain.ParseStatus("status", s); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("ParseStatus(%q) err = %v, want invalid", s, err)
		}
	}
}

func TestNewTask(t *testing.T) {
	now := time.Now()
	t.Run("trims_the_title_and_starts_created_at_version_1", func(t *testing.T) {
		task, err := domain.NewTask(1, 2, "  Launch  ", "", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if task.Title != "Launch" || task.Status != domain.StatusCreated || task.Version != 1 || task.OrgID != 1 || task.CreatedBy != 2 {
			t.Fatalf("task = %+v", task)
		}
	})
	cases := map[string]struct{ title, desc string }{
		"empty_title_is_rejected":           {"", ""},
		"blank_title_is_rejected":           {"   ", ""},
		"title_of_201_chars_is_rejected":    {strings.Repeat("é", 201), ""},
		"description_of_10001_is_rejected":  {"ok", strings.Repeat("x", 10001)},
		"invalid_utf8_description_rejected": {"ok", "\xff"},
		"nul_in_title_is_rejected":          {"a\x00b", ""},
		"nul_in_description_is_rejected":    {"ok", "a\x00b"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := domain.NewTask(1, 2, c.title, c.desc, nil, now); domain.KindOf(err) != domain.KindInvalid {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
	t.Run("title_of_200_multibyte_chars_is_accepted", func(t *testing.T) {
		if _, err := domain.NewTask(1, 2, strings.Repeat("é", 200), strings.Repeat("x", 10000), nil, now); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTask_SetLabels(t *testing.T) {
	t.Run("labels_are_trimmed_lower_cased_sorted_and_deduplicated", func(t *testing.T) {
		task := &domain.Task{}
		if err := task.SetLabels([]string{" Urgent ", "bug", "BUG", "urgent", "Ünïcode"}); err != nil {
			t.Fatalf("SetLabels: %v", err)
		}
		if want := []string{"bug", "urgent", "ünïcode"}; !slices.Equal(task.Labels, want) {
			t.Fatalf("labels = %q, want %q", task.Labels, want)
		}
	})
	t.Run("no_labels_is_an_empty_set_not_nil", func(t *testing.T) {
		task := &domain.Task{Labels: []string{"old"}}
		if err := task.SetLabels(nil); err != nil || task.Labels == nil || len(task.Labels) != 0 {
			t.Fatalf("labels = %#v, err = %v; want an empty non-nil set", task.Labels, err)
		}
	})
	twenty := make([]string, 20)
	for i := range twenty {
		twenty[i] = fmt.Sprintf("l%02d", i)
	}
	t.Run("twenty_distinct_labels_are_accepted", func(t *testing.T) {
		task := &domain.Task{}
		if err := task.SetLabels(twenty); err != nil || len(task.Labels) != 20 {
			t.Fatalf("labels = %q, err = %v", task.Labels, err)
		}
	})
	t.Run("duplicates_do_not_count_towards_the_limit", func(t *testing.T) {
		task := &domain.Task{}
		in := append(slices.Clone(twenty), "L00", " l01", "L19 ")
		if err := task.SetLabels(in); err != nil || len(task.Labels) != 20 {
			t.Fatalf("labels = %q, err = %v", task.Labels, err)
		}
	})
	t.Run("label_of_50_multibyte_chars_is_accepted", func(t *testing.T) {
		task := &domain.Task{}
		if err := task.SetLabels([]string{strings.Repeat("é", 50)}); err != nil {
			t.Fatalf("SetLabels: %v", err)
		}
	})
	for name, in := range map[string][]string{
		"twenty_one_distinct_labels_are_rejected": append(slices.Clone(twenty), "one-more"),
		"label_of_51_chars_is_rejected":           {strings.Repeat("a", 51)},
		"blank_label_is_rejected":                 {"ok", "   "},
		"empty_label_is_rejected":                 {""},
		"label_with_nul_is_rejected":              {"a\x00b"},
	} {
		t.Run(name, func(t *testing.T) {
			task := &domain.Task{Labels: []string{"kept"}}
			err := task.SetLabels(in)
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != "labels" {
				t.Fatalf("err = %v, want a validation error on labels", err)
			}
			if !slices.Equal(task.Labels, []string{"kept"}) {
				t.Fatalf("labels changed to %q on a refused update", task.Labels)
			}
		})
	}
}

func TestTask_SetPriority(t *testing.T) {
	for _, p := range []domain.Priority{domain.PriorityLow, domain.PriorityMedium, domain.PriorityHigh, domain.PriorityUrgent} {
		t.Run(strings.ToLower(string(p))+"_is_accepted_and_round_trips_through_its_rank", func(t *testing.T) {
			task := &domain.Task{}
			if err := task.SetPriority(p); err != nil || task.Priority != p {
				t.Fatalf("priority = %q, err = %v", task.Priority, err)
			}
			if domain.PriorityOfRank(p.Rank()) != p {
				t.Fatalf("PriorityOfRank(%d) = %q", p.Rank(), domain.PriorityOfRank(p.Rank()))
			}
		})
	}
	t.Run("urgent_ranks_highest", func(t *testing.T) {
		low, medium, high, urgent := domain.PriorityLow.Rank(), domain.PriorityMedium.Rank(), domain.PriorityHigh.Rank(), domain.PriorityUrgent.Rank()
		if urgent <= high || high <= medium || medium <= low || low <= 0 {
			t.Fatal("ranks are not LOW < MEDIUM < HIGH < URGENT")
		}
	})
	for _, bad := range []string{"", "low", "CRITICAL"} {
		t.Run("priority_"+strconv.Quote(bad)+"_is_rejected", func(t *testing.T) {
			task := &domain.Task{Priority: domain.PriorityHigh}
			if err := task.SetPriority(domain.Priority(bad)); domain.KindOf(err) != domain.KindInvalid || task.Priority != domain.PriorityHigh {
				t.Fatalf("err = %v, priority = %q", err, task.Priority)
			}
			if _, err := domain.ParsePriority("priority", bad); domain.KindOf(err) != domain.KindInvalid {
				t.Fatalf("ParsePriority err = %v", err)
			}
		})
	}
}

func TestTask_SetDueAt(t *testing.T) {
	t.Run("due_date_is_kept_in_utc_and_nil_clears_it", func(t *testing.T) {
		task := &domain.Task{}
		due := time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
		if err := task.SetDueAt(&due); err != nil || task.DueAt == nil || !task.DueAt.Equal(due) || task.DueAt.Location() != time.UTC {
			t.Fatalf("due = %v, err = %v", task.DueAt, err)
		}
		if err := task.SetDueAt(nil); err != nil || task.DueAt != nil {
			t.Fatalf("due = %v, err = %v; want cleared", task.DueAt, err)
		}
	})
	t.Run("year_0_is_rejected", func(t *testing.T) {
		task := &domain.Task{}
		due := time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC)
		if err := task.SetDueAt(&due); domain.KindOf(err) != domain.KindInvalid || task.DueAt != nil {
			t.Fatalf("err = %v, due = %v", err, task.DueAt)
		}
	})
}

func TestTask_CompletedAt(t *testing.T) {
	start := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	task, err := domain.NewTask(1, 1, "t", "", nil, start)
	if err != nil {
		t.Fatal(err)
	}
	if task.CompletedAt != nil || task.Priority != domain.PriorityMedium || task.Labels == nil || len(task.Labels) != 0 {
		t.Fatalf("new task = %+v, want MEDIUM, no labels, not completed", task)
	}
	t.Run("in_progress_leaves_completed_at_unset", func(t *testing.T) {
		if err := task.Transition(domain.StatusInProgress, start.Add(time.Hour)); err != nil || task.CompletedAt != nil {
			t.Fatalf("completed_at = %v, err = %v", task.CompletedAt, err)
		}
	})
	t.Run("completed_sets_completed_at_to_the_transition_time", func(t *testing.T) {
		done := time.Date(2026, 11, 29, 9, 30, 0, 0, time.FixedZone("X", -7200))
		if err := task.Transition(domain.StatusCompleted, done); err != nil {
			t.Fatal(err)
		}
		if task.CompletedAt == nil || !task.CompletedAt.Equal(done) || task.CompletedAt.Location() != time.UTC {
			t.Fatalf("completed_at = %v, want %v in UTC", task.CompletedAt, done)
		}
	})
}
