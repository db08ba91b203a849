// Package webhook implements the outbound side of webhooks: the HTTP
// sender (ports.WebhookSender) with Standard Webhooks signatures, the
// dialer that refuses non-public addresses at connect time, the
// registration check of a URL's addresses (ports.WebhookTargetChecker),
// and the encryption of signing secrets at rest (ports.SecretBox).
//
// It may import the domain, the ports and the standard library; never
// another adapter, the application or a framework.
package webhook
