package domain_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/taskflow/taskflow/domain"
)

// TestDatabaseUnavailable_KeepsTheCauseForTheLogOnly: the cause is in the
// chain (errors.Is finds it, Error prints it), the client's Message never
// shows it, and the error still matches its sentinel and kind.
func TestDatabaseUnavailable_KeepsTheCauseForTheLogOnly(t *testing.T) {
	err := domain.DatabaseUnavailable(io.ErrUnexpectedEOF)
	if !errors.Is(err, domain.ErrDatabaseUnavailable) || domain.KindOf(err) != domain.KindUnavailable {
		t.Fatalf("%v does not match ErrDatabaseUnavailable and its kind", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v lost its cause", err)
	}
	if !strings.Contains(err.Error(), io.ErrUnexpectedEOF.Error()) {
		t.Fatalf("Error() = %q, want the cause in it for the log", err.Error())
	}
	if strings.Contains(err.Message, io.ErrUnexpectedEOF.Error()) || err.Message != domain.ErrDatabaseUnavailable.Message {
		t.Fatalf("Message = %q shows the client more than the sentinel's", err.Message)
	}
	if domain.ErrDatabaseUnavailable.Cause != nil {
		t.Fatal("DatabaseUnavailable changed the sentinel")
	}
}
