package http

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

// An event frame is three lines and a blank one, with the event JSON on
// its one data line even when the stored data was written over several
// lines (a line break inside data would end the field).
func TestSSESink_OneEventIsOneFrameOnOneDataLine(t *testing.T) {
	var buf bytes.Buffer
	k := &sseSink{w: bufio.NewWriter(&buf), grace: time.Second}
	user := domain.UserID(3)
	e := &domain.Event{ID: 12, OrgID: 4, Type: domain.EventTaskUpdated,
		OccurredAt: time.Date(2026, 11, 28, 6, 56, 9, 664000000, time.UTC),
		Actor:      domain.EventActor{UserID: &user}, RequestID: "req-1",
		Subject: domain.EventSubject{Type: "task", ID: 7},
		Data:    json.RawMessage("{\n  \"task\": {\"title\": \"two\\nlines\"},\n  \"changes\": {}\n}")}
	if err := k.Ping(); err != nil {
		t.Fatal(err)
	}
	if err := k.Event(e); err != nil {
		t.Fatal(err)
	}
	want := ": ping\n\n" +
		"id: 12\nevent: task.updated\n" +
		`data: {"id":12,"type":"task.updated","occurred_at":"2026-11-28T06:56:09.664Z","organization_id":4,` +
		`"actor":{"user_id":3,"api_key_id":null},"request_id":"req-1","subject":{"type":"task","id":7},` +
		`"data":{"task":{"title":"two\nlines"},"changes":{}}}` + "\n\n"
	if got := buf.String(); got != want {
		t.Fatalf("frames:\n%q\nwant\n%q", got, want)
	}
}
