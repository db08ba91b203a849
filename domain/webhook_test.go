package domain_test

import (
	"strings"
	"testing"

	"github.com/taskflow/taskflow/domain"
)

func TestValidateWebhookURL(t *testing.T) {
	for _, c := range []struct {
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"https://hooks.example.com/taskflow?x=1", false, true},
		{"https://93.184.216.34:8443/h", false, true},
		{"http://hooks.example.com/h", false, false},
		{"http://127.0.0.1:8080/h", true, true},
		{"ftp://hooks.example.com/h", true, false},
		{"hooks.example.com/h", false, false},
		{"/relative", false, false},
		{"https:///nohost", false, false},
		{"https://user:pw@hooks.example.com/h", false, false},
		{"https://hooks.example.com/h#frag", false, false},
		{"https://hooks.example.com/" + strings.Repeat("a", domain.MaxWebhookURL), false, false},
		{"", false, false},
		{"https://hooks.example.com/\xff", false, false},
	} {
		fe := domain.ValidateWebhookURL(c.url, c.allowHTTP)
		if (fe == nil) != c.ok || (fe != nil && fe.Field != "url") {
			t.Errorf("ValidateWebhookURL(%q, %v) = %+v, want ok %v", c.url, c.allowHTTP, fe, c.ok)
		}
	}
}

func TestNormalizeWebhookEvents(t *testing.T) {
	got, fe := domain.NormalizeWebhookEvents([]string{"task.*", "member.joined", "task.*", "*", "webhook.disabled"})
	if fe != nil || strings.Join(got, ",") != "task.*,member.joined,*,webhook.disabled" {
		t.Fatalf("got %v, %+v", got, fe)
	}
	for _, bad := range [][]string{
		nil, {}, {"task.exploded"}, {"nothing.*"}, {"task"}, {"task.**"}, {""}, {"TASK.CREATED"},
		make([]string, domain.MaxWebhookEvents+1),
	} {
		if _, fe := domain.NormalizeWebhookEvents(bad); fe == nil || fe.Field != "events" {
			t.Errorf("NormalizeWebhookEvents(%q) accepted", bad)
		}
	}
	twenty := make([]string, domain.MaxWebhookEvents)
	for i := range twenty {
		twenty[i] = "*"
	}
	if got, fe := domain.NormalizeWebhookEvents(twenty); fe != nil || len(got) != 1 {
		t.Fatalf("twenty stars: %v, %+v", got, fe)
	}
}

func TestValidateWebhookDescription(t *testing.T) {
	if domain.ValidateWebhookDescription(strings.Repeat("é", domain.MaxWebhookDescription)) != nil {
		t.Fatal("500 characters refused")
	}
	for _, bad := range []string{strings.Repeat("d", domain.MaxWebhookDescription+1), "a\x00b", "\xff"} {
		if fe := domain.ValidateWebhookDescription(bad); fe == nil || fe.Field != "description" {
			t.Errorf("ValidateWebhookDescription(%q) accepted", bad)
		}
	}
}
