package domain_test

import (
	"testing"

	"github.com/taskflow/taskflow/domain"
)

func TestIsEventPattern(t *testing.T) {
	for p, want := range map[string]bool{
		"*": true, "task.*": true, "member.*": true, "invite.*": true, "webhook.*": true,
		"task.created": true, "task.status_changed": true, "webhook.ping": true,
		"": false, "task": false, "task.": false, "tas*": false, "task.cr*": false, "ta.*": false,
		"nope.*": false, "task.exploded": false, "TASK.CREATED": false, "*.*": false, ".*": false,
	} {
		if got := domain.IsEventPattern(p); got != want {
			t.Errorf("IsEventPattern(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestEventType_MatchesPattern(t *testing.T) {
	for _, tc := range []struct {
		typ     domain.EventType
		pattern string
		want    bool
	}{
		{domain.EventTaskCreated, "*", true},
		{domain.EventTaskCreated, "task.*", true},
		{domain.EventTaskCreated, "task.created", true},
		{domain.EventTaskCreated, "task.updated", false},
		{domain.EventTaskCreated, "member.*", false},
		{domain.EventMemberJoined, "member.*", true},
		{domain.EventTaskStatusChanged, "task.status_changed", true},
	} {
		if got := tc.typ.MatchesPattern(tc.pattern); got != tc.want {
			t.Errorf("%s matches %q = %v, want %v", tc.typ, tc.pattern, got, tc.want)
		}
	}
	if !domain.EventInviteRevoked.MatchesAny([]string{"task.*", "invite.revoked"}) {
		t.Error("invite.revoked does not match [task.* invite.revoked]")
	}
	if domain.EventInviteRevoked.MatchesAny(nil) {
		t.Error("a type matches no patterns")
	}
}

func TestActorOf(t *testing.T) {
	a := domain.ActorOf(domain.Actor{OrgID: 1, UserID: 2, APIKeyID: 3})
	if a.UserID == nil || *a.UserID != 2 || a.APIKeyID == nil || *a.APIKeyID != 3 {
		t.Fatalf("ActorOf with a key: %+v", a)
	}
	a = domain.ActorOf(domain.Actor{OrgID: 1, UserID: 2})
	if a.UserID == nil || *a.UserID != 2 || a.APIKeyID != nil {
		t.Fatalf("ActorOf without a key: %+v", a)
	}
}
