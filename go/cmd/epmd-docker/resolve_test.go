package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	needDocker(t)
	web := start(t, "web", nil, "sleep", "infinity")

	for _, host := range []string{web.Name, web.Hostname, web.ID, web.ID[:8], "app@" + web.Name} {
		r := runCLI(t, nil, "resolve", host)
		if r.code != 0 {
			t.Fatalf("resolve %s: exit %d, stderr %q", host, r.code, r.stderr)
		}
		for _, want := range []string{"address    " + web.Addr.String(), "container  " + web.ID[:12] + " (" + web.Name + ")", "network    bridge"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("resolve %s: output lacks %q:\n%s", host, want, r.stdout)
			}
		}
	}

	r := runCLI(t, nil, "resolve", "--json", web.Hostname)
	var ans resolveAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != 0 {
		t.Fatalf("--json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if ans.Address != web.Addr.String() || ans.Container == nil || ans.Container.ID != web.ID || ans.Network != "bridge" ||
		len(ans.Matched) == 0 || ans.Matched[0] != "hostname" {
		t.Errorf("--json: got %+v", ans)
	}
}

func TestResolveFailures(t *testing.T) {
	needDocker(t)
	// Two containers that call themselves the same: the name is
	// ambiguous, and both are named.
	host := "twin-" + runID
	a := start(t, "twin-a", []string{"--hostname", host}, "sleep", "infinity")
	b := start(t, "twin-b", []string{"--hostname", host}, "sleep", "infinity")

	r := runCLI(t, nil, "resolve", host)
	if r.code != exitFailed || !strings.Contains(r.stderr, a.Name) || !strings.Contains(r.stderr, b.Name) || r.stdout != "" {
		t.Errorf("ambiguous: exit %d, stdout %q, stderr %q; want 1 and both names on stderr", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "resolve", "--json", host)
	var ans resolveAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != exitFailed || ans.Error != "ambiguous" || len(ans.Candidates) != 2 {
		t.Errorf("ambiguous --json: exit %d, %v, %+v", r.code, err, ans)
	}

	r = runCLI(t, nil, "resolve", "nosuch-"+runID)
	if r.code != exitFailed || !strings.Contains(r.stderr, "no running container answers to nosuch-"+runID) {
		t.Errorf("unknown: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, nil, "resolve", "--json", "nosuch-"+runID)
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != exitFailed || ans.Error != "not_found" {
		t.Errorf("unknown --json: exit %d, %v, %+v", r.code, err, ans)
	}

	// The default bridge gives no IPv6 address.
	r = runCLI(t, nil, "resolve", "--inet6", a.Name)
	if r.code != exitFailed || !strings.Contains(r.stderr, "no address") {
		t.Errorf("--inet6: exit %d, stderr %q", r.code, r.stderr)
	}
}
