package bootstrap_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAPI_TokensAreBoundToTheInstallation: two installations (two
// databases) that share a SECRET_KEY hand out the same ids to different
// people. A token of one names, on the other, someone else; its aud claim
// (the installation id) makes it a 401 there.
func TestAPI_TokensAreBoundToTheInstallation(t *testing.T) {
	t.Parallel()
	cfgA := testConfig(t, "memory", "")
	cfgB := testConfig(t, "memory", "")
	cfgB.SecretKey = cfgA.SecretKey
	a, b := startServer(t, cfgA), startServer(t, cfgB)

	tnA, tnB := a.newTenant(t), b.newTenant(t)
	// Fresh databases count from 1: the ids collide, which is what makes
	// a shared key dangerous.
	if tnA.ID != tnB.ID || tnA.Admin.ID != tnB.Admin.ID {
		t.Fatalf("organization %d/%d and admin %d/%d: want the same ids in both installations",
			tnA.ID, tnB.ID, tnA.Admin.ID, tnB.Admin.ID)
	}
	var claimsA, claimsB map[string]any
	decodeSegment(t, strings.Split(tnA.Admin.Token, ".")[1], &claimsA)
	decodeSegment(t, strings.Split(tnB.Admin.Token, ".")[1], &claimsB)
	if claimsA["sid"] != claimsB["sid"] {
		t.Fatalf("sessions %v and %v: want the same session id in both installations", claimsA["sid"], claimsB["sid"])
	}
	if audA, audB := fmt.Sprint(claimsA["aud"]), fmt.Sprint(claimsB["aud"]); claimsA["aud"] == nil || audA == audB {
		t.Fatalf("aud %v and %v: want each installation's own id", claimsA["aud"], claimsB["aud"])
	}

	a.expect(t, http.StatusOK, "", "GET", "/me", tnA.Admin.Token, nil)
	b.expect(t, http.StatusOK, "", "GET", "/me", tnB.Admin.Token, nil)
	b.expect(t, http.StatusUnauthorized, "unauthenticated", "GET", "/me", tnA.Admin.Token, nil)
	b.expect(t, http.StatusUnauthorized, "unauthenticated", "POST", "/tasks", tnA.Admin.Token, map[string]any{"title": "from A"})
	a.expect(t, http.StatusUnauthorized, "unauthenticated", "GET", "/tasks", tnB.Admin.Token, nil)
	if list, _ := b.listTasks(t, tnB.Admin.Token, ""); len(list) != 0 {
		t.Fatalf("installation A's token created tasks in B: %v", ids(list))
	}
}
