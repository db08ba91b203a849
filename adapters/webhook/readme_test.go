package webhook_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/webhook"
)

// TestREADME_ReceiverSnippetVerifiesOurSignatures compiles the signature
// check the README gives integrators, as printed there, and runs it on
// messages this package signed: a reader who copies it gets a receiver
// that accepts our deliveries and refuses altered or replayed ones.
func TestREADME_ReceiverSnippetVerifiesOurSignatures(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "```go\nfunc verify(")
	if start < 0 {
		t.Fatal("README has no ```go block starting with func verify(")
	}
	snippet := string(readme[start+len("```go\n"):])
	snippet = snippet[:strings.Index(snippet, "```")]

	secret, other := newSecret(t, 1), newSecret(t, 7)
	body := `{"id":7,"type":"task.created"}`
	now := time.Now().Unix()
	sign := func(secret string, ts int64, body string) string {
		sig, err := webhook.Sign(secret, "evt_7", ts, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	cases := []struct {
		name      string
		ts        int64
		signature string
		body      string
		want      bool
	}{
		{"signed", now, sign(secret, now, body), body, true},
		{"two_signatures_during_a_rotation", now, sign(other, now, body) + " " + sign(secret, now, body), body, true},
		{"body_altered", now, sign(secret, now, body), body + " ", false},
		{"another_secret", now, sign(other, now, body), body, false},
		{"replayed_an_hour_later", now - 3600, sign(secret, now-3600, body), body, false},
	}
	var prog strings.Builder
	prog.WriteString("package main\n\nimport (\n\t\"crypto/hmac\"\n\t\"crypto/sha256\"\n\t\"encoding/base64\"\n\t\"fmt\"\n" +
		"\t\"net/http\"\n\t\"strconv\"\n\t\"strings\"\n\t\"time\"\n)\n\n")
	prog.WriteString(snippet)
	prog.WriteString("\nfunc main() {\n")
	for _, c := range cases {
		fmt.Fprintf(&prog, "\t{\n\th := http.Header{}\n\th.Set(\"webhook-id\", \"evt_7\")\n\th.Set(\"webhook-timestamp\", %q)\n"+
			"\th.Set(\"webhook-signature\", %q)\n\tfmt.Println(%q, verify(%q, h, []byte(%q)))\n\t}\n",
			strconv.FormatInt(c.ts, 10), c.signature, c.name, secret, c.body)
	}
	prog.WriteString("\t_ = strconv.Itoa\n}\n")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module readme\n\ngo 1.26\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's snippet does not run: %v\n%s\n%s", err, out, prog.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("output %q, want one line per case", out)
	}
	for i, c := range cases {
		if want := c.name + " " + strconv.FormatBool(c.want); lines[i] != want {
			t.Errorf("%s: the snippet says %q, want %q", c.name, lines[i], want)
		}
	}
}
