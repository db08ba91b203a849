package application

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// journal records, in order, where each write went: "pool" for a store
// over the pools, "tx" for one bound to the transaction, and how the
// transaction ended.
type journal []string

type journalTasks struct {
	ports.TaskStore
	j     *journal
	where string
}

func (s journalTasks) Create(_ context.Context, t *domain.Task) error {
	*s.j = append(*s.j, "task@"+s.where)
	t.ID = 7
	return nil
}

type journalKeys struct {
	ports.IdempotencyStore
	j    *journal
	fail error
}

func (k journalKeys) Complete(context.Context, ports.IdempotencyClaim, ports.StoredResponse) error {
	*k.j = append(*k.j, "key@tx")
	return k.fail
}

type journalTx struct {
	j    *journal
	keys journalKeys
}

func (x journalTx) InTx(_ context.Context, fn func(ports.Stores) error) error {
	err := fn(ports.Stores{Tasks: journalTasks{j: x.j, where: "tx"}, Idempotency: x.keys, Events: journalEvents{j: x.j}})
	if err != nil {
		*x.j = append(*x.j, "rollback")
		return err
	}
	*x.j = append(*x.j, "commit")
	return nil
}

func newJournaledTasks(j *journal, completeErr error) *Tasks {
	return NewTasks(journalTx{j: j, keys: journalKeys{j: j, fail: completeErr}}, journalTasks{j: j, where: "pool"},
		NewOrgCache(memCache{}, slog.New(slog.DiscardHandler)), fixedClock{}, jsonRep{})
}

var keyHolder = domain.Actor{OrgID: 1, UserID: 1, Role: domain.RoleAdmin}

func receipt() *Receipt[*domain.Task] {
	return &Receipt[*domain.Task]{Answer: func(t *domain.Task) ports.StoredResponse {
		return ports.StoredResponse{Status: 201, Body: []byte(`{"id":7}`)}
	}}
}

func TestTasks_Create_WithAKeyCommitsTheTaskAndTheAnswerTogether(t *testing.T) {
	var j journal
	if _, err := newJournaledTasks(&j, nil).Create(t.Context(), keyHolder, CreateTaskInput{Title: "t", Receipt: receipt()}); err != nil {
		t.Fatal(err)
	}
	if want := (journal{"task@tx", "key@tx", "task.created@tx", "commit"}); !slices.Equal(j, want) {
		t.Fatalf("writes %v, want %v", j, want)
	}
}

func TestTasks_Create_AKeyThatCannotBeCompletedRollsTheTaskBack(t *testing.T) {
	var j journal
	_, err := newJournaledTasks(&j, domain.ErrIdempotencyKeyInProgress).Create(t.Context(), keyHolder,
		CreateTaskInput{Title: "t", Receipt: receipt()})
	if !errors.Is(err, domain.ErrIdempotencyKeyInProgress) {
		t.Fatalf("err %v, want %v", err, domain.ErrIdempotencyKeyInProgress)
	}
	if want := (journal{"task@tx", "key@tx", "rollback"}); !slices.Equal(j, want) {
		t.Fatalf("writes %v, want %v", j, want)
	}
}

func TestTasks_Create_WithoutAKeyCommitsTheTaskAndItsEventTogether(t *testing.T) {
	var j journal
	if _, err := newJournaledTasks(&j, nil).Create(t.Context(), keyHolder, CreateTaskInput{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	if want := (journal{"task@tx", "task.created@tx", "commit"}); !slices.Equal(j, want) {
		t.Fatalf("writes %v, want %v", j, want)
	}
}

type journalEvents struct {
	ports.EventStore
	j *journal
}

func (e journalEvents) Append(_ context.Context, ev *domain.Event) error {
	*e.j = append(*e.j, string(ev.Type)+"@tx")
	return nil
}
