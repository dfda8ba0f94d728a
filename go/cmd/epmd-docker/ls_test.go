package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lsAnswer is ls --json's answer.
type lsAnswer struct {
	Containers []containerEntry `json:"containers"`
}

func lsJSON(t *testing.T) map[string]containerEntry {
	t.Helper()
	r := runCLI(t, nil, "ls", "--json")
	var ans lsAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != 0 {
		t.Fatalf("ls --json: exit %d, %v, stderr %q:\n%s", r.code, err, r.stderr, r.stdout)
	}
	byID := map[string]containerEntry{}
	for _, e := range ans.Containers {
		byID[e.ID] = e
	}
	return byID
}

func TestLs(t *testing.T) {
	needDocker(t)
	one := start(t, "one", nil, erlNode("app", "c")...)
	two := start(t, "two", nil, "sh", "-c", "erl -sname a -setcookie c -noshell -noinput -detached; exec erl -sname b -setcookie c -noshell -noinput")
	// A node that calls itself by its container's name, as in compose
	// set-ups, is listed by that name: the node says so itself.
	named := start(t, "named", nil, erlNode("app@edt-"+runID+"-named", "c")...)
	plain := start(t, "plain", nil, "sleep", "infinity")
	waitNodes(t, one, 1)
	waitNodes(t, two, 2)
	waitNodes(t, named, 1)

	got := lsJSON(t)
	nodes := func(e containerEntry) string {
		var s []string
		for _, n := range e.Nodes {
			if n.Port <= 0 {
				t.Errorf("%s: node %s without a port", e.Name, n.Node)
			}
			s = append(s, n.Node)
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		c     ctr
		epmd  string
		nodes string
	}{
		{one, epmdOK, "app@" + one.Hostname},
		{two, epmdOK, "a@" + two.Hostname + " b@" + two.Hostname},
		{named, epmdOK, "app@" + named.Name},
		{plain, epmdNone, ""},
	} {
		e, ok := got[tt.c.ID]
		if !ok {
			t.Errorf("%s is not listed", tt.c.Name)
			continue
		}
		if e.Name != tt.c.Name || e.Hostname != tt.c.Hostname || e.Address != tt.c.Addr.String() || e.ShortID != tt.c.ID[:12] {
			t.Errorf("%s: got %+v", tt.c.Name, e)
		}
		if len(e.Networks) != 1 || e.Networks[0].Network != "bridge" || e.Networks[0].IPv4 != tt.c.Addr.String() {
			t.Errorf("%s: networks %+v", tt.c.Name, e.Networks)
		}
		if e.EPMD != tt.epmd || nodes(e) != tt.nodes {
			t.Errorf("%s: epmd %s, nodes %q; want %s, %q", tt.c.Name, e.EPMD, nodes(e), tt.epmd, tt.nodes)
		}
	}

	// The table: a header, aligned columns, a line per further node.
	r := runCLI(t, nil, "ls")
	if r.code != 0 || strings.Contains(r.stdout, "\x1b[") {
		t.Fatalf("ls: exit %d, stderr %q; colour off a terminal? %q", r.code, r.stderr, r.stdout)
	}
	lines := strings.Split(r.stdout, "\n")
	col := strings.Index(lines[0], "NODE")
	if !strings.HasPrefix(lines[0], "CONTAINER  ") || col < 0 {
		t.Fatalf("ls: header %q", lines[0])
	}
	for i, l := range lines {
		if strings.HasPrefix(l, two.ID[:12]) {
			if !strings.HasPrefix(l[col:], "a@"+two.Hostname) || !strings.HasPrefix(lines[i+1][col:], "b@"+two.Hostname) {
				t.Errorf("ls: nodes of %s not in the NODE column:\n%s", two.Name, r.stdout)
			}
		}
	}
}

// TestLsMany measures ls with fifty containers, ten of them Erlang nodes:
// the probes run at once, so it should take about as long as with one.
func TestLsMany(t *testing.T) {
	needDocker(t)
	if testing.Short() {
		t.Skip("starts fifty containers")
	}
	const n, erlangs = 50, 10
	var wg sync.WaitGroup
	cs := make([]ctr, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i < erlangs {
				cs[i] = start(t, fmt.Sprintf("many%d", i), nil, erlNode("app", "c")...)
			} else {
				cs[i] = start(t, fmt.Sprintf("many%d", i), nil, "sleep", "infinity")
			}
		}()
	}
	wg.Wait()
	for _, c := range cs[:erlangs] {
		waitNodes(t, c, 1)
	}

	begin := time.Now()
	got := lsJSON(t)
	took := time.Since(begin)
	t.Logf("ls with %d running containers (%d of ours, %d Erlang) took %v", len(got), n, erlangs, took)
	for i, c := range cs {
		e, ok := got[c.ID]
		switch {
		case !ok:
			t.Errorf("%s not listed", c.Name)
		case i < erlangs && (len(e.Nodes) != 1 || e.Nodes[0].Node != "app@"+c.Hostname):
			t.Errorf("%s: nodes %+v", c.Name, e.Nodes)
		case i >= erlangs && e.EPMD != epmdNone:
			t.Errorf("%s: epmd %s, want none", c.Name, e.EPMD)
		}
	}
	if took > 3*time.Second {
		t.Errorf("ls took %v with %d containers; want about a second", took, n)
	}
}

// TestColour checks that a terminal gets colour, and NO_COLOR or a pipe
// none.
func TestColour(t *testing.T) {
	needDocker(t)
	start(t, "colour", nil, "sleep", "infinity")
	tm := newTerminal(t, binary+" ls")
	tm.waitFor("EXIT=0")
	if screen := tm.tmux("capture-pane", "-e", "-p", "-t", "main"); !strings.Contains(screen, "\x1b[1m") {
		t.Errorf("ls on a terminal: nothing bold:\n%q", screen)
	}
	tm = newTerminal(t, "NO_COLOR=1 "+binary+" ls")
	tm.waitFor("EXIT=0")
	if screen := tm.tmux("capture-pane", "-e", "-p", "-t", "main"); strings.Contains(screen, "\x1b[1m") {
		t.Errorf("ls with NO_COLOR: colour:\n%q", screen)
	}
}
