package domain_test

import (
	"errors"
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
				if want, got := "cannot move a task from "+string(from)+" to "+string(to), err.(*domain.Error).Message; got != want {
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
