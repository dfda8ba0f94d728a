package e2e

// Faults on the distribution path, end to end: the helper killed, missing
// or misbehaving, the Docker daemon stopping and coming back, the VM
// killed, an address taken over by another container. Each test drives a
// real admin node with -epmd_module epmd_docker, the real helper (or a fake
// standing in for it) and a real dockerd.
//
// The tests are in faults_*_test.go, by concern; this file holds what
// several of them use.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Lookup results, as startLookups/collectLookups pass them.
type lookup struct {
	Answer string
	Ms     int // how long the lookup took
	At     int // erlang:monotonic_time(millisecond) when it returned
}

var lookupRe = regexp.MustCompile(`^\{(.*),(-?\d+),(-?\d+)\}$`)

// startLookups starts one process per host on the admin node, each calling
// the fun ask once, under a collector registered as name.
func startLookups(t *testing.T, a *Admin, name, ask string, hosts []string) {
	t.Helper()
	quoted := make([]string, len(hosts))
	for i, h := range hosts {
		quoted[i] = strconv.Quote(h)
	}
	a.Eval(oneLine(fmt.Sprintf(`register(%s, spawn(fun() ->
		Self = self(),
		Hosts = [%s],
		Ask = %s,
		Pids = [spawn(fun() ->
				T0 = erlang:monotonic_time(millisecond),
				R = Ask(H),
				T1 = erlang:monotonic_time(millisecond),
				Self ! {done, self(), {R, T1 - T0, T1}}
			end) || H <- Hosts],
		Results = [receive {done, P, R} -> R end || P <- Pids],
		receive {get, From} -> From ! {lookups, Results} end
	end))`, name, strings.Join(quoted, ", "), ask)), 10*time.Second)
}

// Lookup funs for startLookups.
const (
	askResolve = `fun(H) -> epmd_docker:resolve(H) end`
	askAddress = `fun(H) -> epmd_docker:address_please("app", H, inet) end`
)

// collectLookups waits for the lookups startLookups started, in host order.
func collectLookups(t *testing.T, a *Admin, name string, timeout time.Duration) []lookup {
	t.Helper()
	ms := timeout.Milliseconds()
	got := a.Eval(fmt.Sprintf("%s ! {get, self()}, receive {lookups, R} -> R after %d -> timeout end", name, ms), timeout+5*time.Second)
	if got == "timeout" {
		t.Fatalf("lookups not done within %v\n%s", timeout, a.Output())
	}
	var out []lookup
	for _, it := range splitTop(strings.TrimSuffix(strings.TrimPrefix(got, "["), "]")) {
		m := lookupRe.FindStringSubmatch(it)
		if m == nil {
			t.Fatalf("unreadable lookup result %q", it)
		}
		ms, _ := strconv.Atoi(m[2])
		at, _ := strconv.Atoi(m[3])
		out = append(out, lookup{Answer: m[1], Ms: ms, At: at})
	}
	return out
}

func maxAfter(rs []lookup, t0 int) int {
	m := 0
	for _, r := range rs {
		m = max(m, r.At-t0)
	}
	return m
}

// splitTop splits a printed Erlang term sequence at its top-level commas.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	inStr := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[' || c == '(':
			depth++
		case c == '}' || c == ']' || c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// startNodeWatch registers fault_watch on the admin node: it keeps every
// nodeup and nodedown event from now on.
func startNodeWatch(t *testing.T, a *Admin) {
	t.Helper()
	a.Eval(oneLine(`register(fault_watch, spawn(fun() ->
		ok = net_kernel:monitor_nodes(true, [{node_type, all}, nodedown_reason]),
		Loop = fun L(Acc) ->
			receive {get, P} -> P ! {watch, lists:reverse(Acc)}, L(Acc);
				E -> L([E | Acc])
			end
		end,
		Loop([])
	end))`), 5*time.Second)
	if got := nodeWatchEvents(t, a); got != "[]" {
		t.Fatalf("fault_watch: %s", got)
	}
}

func nodeWatchEvents(t *testing.T, a *Admin) string {
	t.Helper()
	return a.Eval("fault_watch ! {get, self()}, receive {watch, E} -> E after 5000 -> no_answer end", 10*time.Second)
}

// waitHelperUp waits until a helper other than old runs, and returns it.
func waitHelperUp(t *testing.T, a *Admin, old int) int {
	t.Helper()
	got := waitEval(t, a, "case epmd_docker_helper:status(epmd_docker_helper) of #{status := up, os_pid := P} -> P; S -> S end", 15*time.Second,
		func(s string) bool { p, err := strconv.Atoi(s); return err == nil && p != old })
	pid, _ := strconv.Atoi(got)
	return pid
}

// waitGone waits for pid to exit.
func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for processRuns(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after %v", pid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
