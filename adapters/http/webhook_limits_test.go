package http

import (
	"strings"
	"testing"

	"github.com/taskflow/taskflow/domain"
)

// The documented limits of a webhook are the domain's.
func TestOpenAPI_WebhookLimitsMatchTheDomain(t *testing.T) {
	doc := servedDoc(t)
	for _, schema := range []string{"WebhookCreate", "WebhookPatch"} {
		u := property(t, doc, schema, "url")
		if u.MaxLength == nil || *u.MaxLength != domain.MaxWebhookURL || u.MinLength != 1 {
			t.Errorf("%s.url: minLength %d, maxLength %v; want 1 and %d", schema, u.MinLength, u.MaxLength, domain.MaxWebhookURL)
		}
		e := property(t, doc, schema, "events")
		if e.MaxItems == nil || *e.MaxItems != domain.MaxWebhookEvents || e.MinItems != 1 {
			t.Errorf("%s.events: minItems %d, maxItems %v; want 1 and %d", schema, e.MinItems, e.MaxItems, domain.MaxWebhookEvents)
		}
		d := property(t, doc, schema, "description")
		if d.MaxLength == nil || *d.MaxLength != domain.MaxWebhookDescription {
			t.Errorf("%s.description: maxLength %v; want %d", schema, d.MaxLength, domain.MaxWebhookDescription)
		}
	}
	for _, typ := range domain.EventTypes {
		if typ == domain.EventWebhookPing {
			continue // no event of the log: a ping is sent, not recorded
		}
		if !strings.Contains(property(t, doc, "WebhookCreate", "events").Description, "`"+string(typ)+"`") {
			t.Errorf("WebhookCreate.events does not name %s", typ)
		}
	}
}
