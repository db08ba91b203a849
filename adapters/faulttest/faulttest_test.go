package faulttest_test

import (
	"testing"

	"github.com/taskflow/taskflow/adapters/faulttest"
)

func TestPostgres_StopsAndStartsAgain(t *testing.T) {
	t.Parallel()
	pg := faulttest.StartPostgres(t)
	if !pg.Answers() {
		t.Fatal("a started Postgres does not answer")
	}
	pg.Stop()
	if pg.Answers() {
		t.Fatal("a stopped Postgres still answers")
	}
	pg.Start()
	if !pg.Answers() {
		t.Fatal("a restarted Postgres does not answer")
	}
	pg.Kill()
	if pg.Answers() {
		t.Fatal("a killed Postgres still answers")
	}
}

func TestRedis_FreezesThawsAndDies(t *testing.T) {
	t.Parallel()
	r := faulttest.StartRedis(t)
	r.Freeze()
	if r.Answers() {
		t.Fatal("a frozen Redis answers")
	}
	r.Thaw()
	if !r.Answers() {
		t.Fatal("a thawed Redis does not answer")
	}
	r.Kill()
	if r.Answers() {
		t.Fatal("a killed Redis answers")
	}
	r.Start()
	if !r.Answers() {
		t.Fatal("a restarted Redis does not answer")
	}
}
