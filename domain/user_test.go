package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

func TestNormalizeEmail(t *testing.T) {
	good := map[string]string{
		"admin@acme.com":       "admin@acme.com",
		"  Admin@ACME.com  ":   "admin@acme.com",
		"first.last+x@a.co.uk": "first.last+x@a.co.uk",
	}
	for in, want := range good {
		if got, err := domain.NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "plain", "a@b", "Bob <bob@acme.com>", "a@@b.com", strings.Repeat("a", 250) + "@b.com"} {
		if _, err := domain.NormalizeEmail(in); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("NormalizeEmail(%q) err = %v, want invalid", in, err)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for n, ok := range map[int]bool{7: false, 8: true, 72: true, 73: false} {
		err := domain.ValidatePassword("password", strings.Repeat("p", n))
		if (err == nil) != ok {
			t.Errorf("%d bytes: err = %v, want ok=%v", n, err, ok)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []string{"ADMIN", "USER"} {
		if _, err := domain.ParseRole(r); err != nil {
			t.Errorf("ParseRole(%q): %v", r, err)
		}
	}
	for _, r := range []string{"", "admin", "OWNER"} {
		if _, err := domain.ParseRole(r); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("ParseRole(%q) err = %v", r, err)
		}
	}
}

func TestInvite_Usable(t *testing.T) {
	now := time.Now()
	used := now.Add(-time.Minute)
	cases := map[string]struct {
		inv   domain.Invite
		email string
		ok    bool
	}{
		"fresh_open_invite_is_usable":          {domain.Invite{ExpiresAt: now.Add(time.Hour)}, "a@b.co", true},
		"email_bound_invite_for_that_email":    {domain.Invite{ExpiresAt: now.Add(time.Hour), Email: "a@b.co"}, "a@b.co", true},
		"email_bound_invite_for_another_email": {domain.Invite{ExpiresAt: now.Add(time.Hour), Email: "a@b.co"}, "c@b.co", false},
		"expired_invite":                       {domain.Invite{ExpiresAt: now}, "a@b.co", false},
		"used_invite":                          {domain.Invite{ExpiresAt: now.Add(time.Hour), UsedAt: &used}, "a@b.co", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.inv.Usable(c.email, now)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, domain.ErrInviteInvalid)) {
				t.Fatalf("Usable = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestError_IsMatchesKindAndCode(t *testing.T) {
	copy := &domain.Error{Kind: domain.KindNotFound, Code: "task_not_found", Message: "other text"}
	if !errors.Is(copy, domain.ErrTaskNotFound) {
		t.Fatal("a copy with the same kind and code should match")
	}
	if errors.Is(domain.ErrUserNotFound, domain.ErrTaskNotFound) {
		t.Fatal("different codes must not match")
	}
	if domain.KindOf(errors.New("boom")) != domain.KindInternal {
		t.Fatal("a foreign error is internal")
	}
}

func TestNewOrganization(t *testing.T) {
	if o, err := domain.NewOrganization("  Acme Corp ", time.Now()); err != nil || o.Name != "Acme Corp" {
		t.Fatalf("NewOrganization = %+v, %v", o, err)
	}
	for _, n := range []string{"", "  ", strings.Repeat("x", 201)} {
		if _, err := domain.NewOrganization(n, time.Now()); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("NewOrganization(%q) err = %v", n, err)
		}
	}
}
