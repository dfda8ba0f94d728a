package e2e

// Faults on the distribution path, end to end: the helper killed, missing
// or misbehaving, the Docker daemon stopping and coming back, the VM
// killed, an address taken over by another container. Each test drives a
// real admin node with -epmd_module epmd_docker, the real helper (or a fake
// standing in for it) and a real dockerd.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"
)

// The helper is SIGKILLed while lookups wait on it: they fail at once with
// helper_down rather than at their timeout, the port owner (the same
// process) starts a new helper, the next connect works, and a distribution
// connection made before stays up all along.
func TestFaultHelperKilled(t *testing.T) {
	c1 := startNode(t, nodeSpec{})
	c2 := startNode(t, nodeSpec{})
	// A long request timeout: an answer that waited for it would be
	// unmistakable.
	a := startAdmin(t, []string{"EPMD_DOCKER_TIMEOUT=10000"})
	if got := a.Connect(c1.Node); got != "true" {
		t.Fatalf("connect_node(%s) = %s\n%s", c1.Node, got, a.Output())
	}
	startNodeWatch(t, a)
	owner := a.Eval("whereis(epmd_docker_helper)", 5*time.Second)
	pid := helperOSPid(t, a)

	// Stopped, the helper cannot answer: every lookup below is in flight
	// when it dies.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Should the test stop early: a stopped helper never exits.
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "epmd-docker" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	var hosts []string
	for i := 0; i < 10; i++ {
		hosts = append(hosts, c2.Hostname, "no-such-host-"+randHex(3))
	}
	startLookups(t, a, "fault_batch", askResolve, hosts)
	waitEval(t, a, "maps:get(waiting, epmd_docker_helper:status(epmd_docker_helper))", 10*time.Second,
		func(s string) bool { return s == strconv.Itoa(len(hosts)) })
	killedAt := a.Eval("erlang:monotonic_time(millisecond)", 5*time.Second)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	results := collectLookups(t, a, "fault_batch", 15*time.Second)
	killed, _ := strconv.Atoi(killedAt)
	for i, r := range results {
		if r.Answer != "{error,helper_down}" {
			t.Errorf("lookup of %s in flight when the helper died: got %s, want {error,helper_down}", hosts[i], r.Answer)
		}
		if after := r.At - killed; after > 2000 {
			t.Errorf("lookup of %s answered %d ms after the kill, want promptly", hosts[i], after)
		}
	}
	t.Logf("%d lookups in flight answered at most %d ms after the kill", len(results), maxAfter(results, killed))

	newPid := waitHelperUp(t, a, pid)
	if got := a.Eval("whereis(epmd_docker_helper)", 5*time.Second); got != owner {
		t.Errorf("port owner is %s after the kill, want the same process %s", got, owner)
	}
	if got := a.Eval("maps:get(restarts, epmd_docker_helper:status(epmd_docker_helper))", 5*time.Second); got != "1" {
		t.Errorf("restarts = %s, want 1", got)
	}
	t.Logf("helper %d killed, %d started in its place", pid, newPid)
	if got := a.Connect(c2.Node); got != "true" {
		t.Fatalf("connect_node(%s) after the restart = %s\n%s", c2.Node, got, a.Output())
	}
	if got := a.RPCNode(c1.Node); got != atom(c1.Node) {
		t.Errorf("rpc to %s, connected before the kill: %s", c1.Node, got)
	}
	if events := nodeWatchEvents(t, a); strings.Contains(events, "nodedown") {
		t.Errorf("distribution events while the helper died: %s, want no nodedown", events)
	}
}

// The helper cannot be run: it is missing, not executable, not a program
// exec(2) accepts, or a directory. The node boots and stays up, ordinary
// hosts still resolve (localhost, and a node on this host), lookups fail at
// once, and the log says so once.
func TestFaultHelperCannotRun(t *testing.T) {
	plain := startPlainNode(t)
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	noshebang := filepath.Join(dir, "noshebang")
	directory := filepath.Join(dir, "directory")
	must(t, os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644))
	must(t, os.WriteFile(noshebang, []byte("echo hello\n"), 0o755))
	must(t, os.Mkdir(directory, 0o755))
	cases := []struct {
		name, path, why string
	}{
		{"missing", "/nonexistent/epmd-docker", "no such file or directory"},
		{"not_executable", noexec, "permission denied"},
		{"not_a_program", noshebang, "exec format error"},
		{"directory", directory, "permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + tc.path})
			if got := a.Eval(`epmd_docker:address_please("x", "localhost", inet)`, 10*time.Second); got != "{ok,{127,0,0,1}}" {
				t.Errorf("address_please(localhost) = %s, want {ok,{127,0,0,1}}", got)
			}
			// Asked again and again, across the on-demand retries.
			for i := 0; i < 6; i++ {
				start := time.Now()
				got := a.Eval(`epmd_docker:resolve("some-container")`, 10*time.Second)
				if got != "{error,helper_unavailable}" {
					t.Errorf("resolve = %s, want {error,helper_unavailable}", got)
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("resolve took %v, want at once", took)
				}
				time.Sleep(300 * time.Millisecond)
			}
			connectEventually(t, a, plain, 20*time.Second)
			if got := a.Eval("erlang:is_alive()", 5*time.Second); got != "true" {
				t.Errorf("is_alive() = %s", got)
			}
			out := a.Output()
			lines := matchingLines(out, "cannot run the helper")
			if len(lines) != 1 {
				t.Fatalf("%d log lines say the helper cannot run, want 1:\n%s", len(lines), out)
			}
			if !strings.Contains(lines[0], tc.path) || !strings.Contains(lines[0], tc.why) {
				t.Errorf("log line %q should name %s and say %q", lines[0], tc.path, tc.why)
			}
			if n := len(matchingLines(out, "restarting it")); n != 0 {
				t.Errorf("%d restart warnings for a helper that cannot run:\n%s", n, out)
			}
		})
	}
}

// The Erlang VM is SIGKILLed: its helper sees its stdin close and exits
// within a second, and erl_child_setup with it; nothing is left behind.
func TestFaultVMKilled(t *testing.T) {
	a := startAdmin(t, nil)
	beam, _ := strconv.Atoi(strings.Trim(a.Eval("os:getpid()", 5*time.Second), `"`))
	helper := helperOSPid(t, a)
	setup := parentPid(helper)
	if parentPid(setup) != beam {
		t.Fatalf("test setup: helper %d, its parent %d, whose parent is %d, want the beam %d", helper, setup, parentPid(setup), beam)
	}
	if err := syscall.Kill(beam, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, p := range []struct {
		name string
		pid  int
	}{{"helper", helper}, {"erl_child_setup", setup}} {
		for processRuns(p.pid) {
			if time.Since(killed) > time.Second {
				t.Fatalf("%s %d still runs %v after the VM was killed", p.name, p.pid, time.Since(killed))
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s %d gone %v after the VM was killed", p.name, p.pid, time.Since(killed))
	}
}

// A stopped container's address goes to another container. The old name
// must never resolve to the newcomer, even though the first answer was
// cached for ten minutes; the newcomer resolves to its address.
func TestFaultAddressReuse(t *testing.T) {
	network := "e2e-reuse-" + randHex(3)
	docker(t, "network", "create", "--label", label, network)
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", network).Run() })
	nameA, nameB := "reuse-a-"+randHex(3), "reuse-b-"+randHex(3)
	idA := runSleeper(t, "--name", nameA, "--network", network)
	hostA := docker(t, "inspect", "-f", "{{.Config.Hostname}}", idA)
	ipA := strings.TrimSpace(containerIP(t, idA))

	a := startAdmin(t, []string{"EPMD_DOCKER_TTL=10m"})
	if got := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, nameA), 10*time.Second); got != "{ok,"+erlIP(ipA)+"}" {
		t.Fatalf("resolve(%s) = %s, want {ok,%s}", nameA, got, erlIP(ipA))
	}
	// Ask for A without pause, by name and by hostname, while A stops
	// and B starts; every answer is kept, in order.
	a.Eval(oneLine(fmt.Sprintf(`register(fault_asker, spawn(fun() ->
		Ask = fun L(Acc) ->
			R = {epmd_docker:resolve("%s"), epmd_docker:resolve("%s")},
			receive {mark, P} -> P ! marked, L([mark, R | Acc]);
				{stop, P} -> P ! {answers, lists:reverse([R | Acc])}
			after 10 -> L([R | Acc]) end
		end,
		Ask([])
	end))`, nameA, hostA)), 5*time.Second)
	docker(t, "stop", "-t", "1", idA)
	idB := runSleeper(t, "--name", nameB, "--network", network)
	ipB := strings.TrimSpace(containerIP(t, idB))
	if ipB != ipA {
		t.Fatalf("test setup: B has %s, want A's former address %s", ipB, ipA)
	}
	if got := a.Eval("fault_asker ! {mark, self()}, receive marked -> ok after 5000 -> timeout end", 10*time.Second); got != "ok" {
		t.Fatalf("asker: %s", got)
	}
	time.Sleep(time.Second)
	answers := a.Eval("fault_asker ! {stop, self()}, receive {answers, A} -> A after 5000 -> timeout end", 10*time.Second)

	// Once A was seen gone, it never comes back; after B is up, every
	// answer for A is an error.
	old := "{ok," + erlIP(ipA) + "}"
	items := splitTop(strings.TrimSuffix(strings.TrimPrefix(answers, "["), "]"))
	seenGone, afterMark, n := false, false, 0
	for _, it := range items {
		if it == "mark" {
			afterMark = true
			continue
		}
		n++
		pair := splitTop(strings.TrimSuffix(strings.TrimPrefix(it, "{"), "}"))
		for _, r := range pair {
			switch {
			case r == old && (seenGone || afterMark):
				t.Fatalf("A resolved to its former address %s after it was gone (B holds it now); answers: %s", ipA, answers)
			case r == old:
			case r == "{error,not_found}":
				seenGone = true
			default:
				t.Errorf("resolving A: got %s, want %s or {error,not_found}", r, old)
			}
		}
	}
	if !afterMark || n < 10 {
		t.Fatalf("test setup: too few answers (%d): %s", n, answers)
	}
	t.Logf("%d rounds of lookups for A while it stopped and B took %s", n, ipA)

	if got := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, nameB), 10*time.Second); got != old {
		t.Errorf("resolve(B) = %s, want %s", got, old)
	}
	for _, h := range []string{nameA, hostA} {
		if got := a.Eval(fmt.Sprintf(`epmd_docker:address_please("app", "%s", inet)`, h), 10*time.Second); got == old || !strings.HasPrefix(got, "{error,") {
			t.Errorf("address_please(%s) = %s, want an error", h, got)
		}
	}
}

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

// helperOSPid is the OS process ID of the admin node's helper, which a
// ping runs if nothing has yet (the owner runs it at the first request).
func helperOSPid(t *testing.T, a *Admin) int {
	t.Helper()
	got := waitEval(t, a, "begin _ = epmd_docker_helper:request(ping), maps:get(os_pid, epmd_docker_helper:status(epmd_docker_helper)) end", 10*time.Second,
		func(s string) bool { _, err := strconv.Atoi(s); return err == nil })
	pid, _ := strconv.Atoi(got)
	return pid
}

// waitHelperUp waits until a helper other than old runs, and returns it.
func waitHelperUp(t *testing.T, a *Admin, old int) int {
	t.Helper()
	got := waitEval(t, a, "case epmd_docker_helper:status(epmd_docker_helper) of #{status := up, os_pid := P} -> P; S -> S end", 15*time.Second,
		func(s string) bool { p, err := strconv.Atoi(s); return err == nil && p != old })
	pid, _ := strconv.Atoi(got)
	return pid
}

// waitEval evaluates expr until ok accepts the answer, and returns it.
func waitEval(t *testing.T, a *Admin, expr string, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := a.Eval(expr, 10*time.Second)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %s after %v\n%s", expr, got, timeout, a.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connectEventually connects to node, which may still be starting.
func connectEventually(t *testing.T, a *Admin, node string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := a.Connect(node)
		if got == "true" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect_node(%s) = %s, want true\n%s", node, got, a.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startPlainNode starts an ordinary node on this host, outside Docker, and
// returns its name.
func startPlainNode(t *testing.T) string {
	t.Helper()
	name := "plain" + randHex(3)
	plain := exec.Command("erl", "-sname", name, "-setcookie", cookie, "-noshell", "-noinput")
	if err := plain.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Process.Kill(); _ = plain.Wait() })
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	return name + "@" + host
}

// runSleeper starts a container that only sleeps: enough to be resolved.
func runSleeper(t testing.TB, args ...string) string {
	t.Helper()
	all := append([]string{"run", "-d", "--label", label, "-v", "/usr:/usr:ro"}, args...)
	all = append(all, image, "sleep", "3600")
	id := docker(t, all...)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	return id
}

// processRuns reports whether pid is a live process; a zombie has exited.
func processRuns(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(b)
	rest := s[strings.LastIndexByte(s, ')')+1:]
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// parentPid is pid's parent, or 0.
func parentPid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// erlIP prints an IPv4 address as an Erlang tuple.
func erlIP(ip string) string {
	return "{" + strings.ReplaceAll(strings.TrimSpace(ip), ".", ",") + "}"
}

// oneLine joins an expression written over several lines: the driver reads
// one line per expression.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func matchingLines(out, sub string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, sub) {
			lines = append(lines, l)
		}
	}
	return lines
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fakeEscript stands in for the helper and misbehaves in the mode given as
// its first argument. In garbage mode every request gets one of a dozen
// hostile replies in turn; each atom it sends that the admin node cannot
// know is named on stderr after FAKE-ATOM, for the test to check that none
// was created.
const fakeEscript = `#!/usr/bin/env escript
%%! -noinput

main([Mode | _]) ->
    Port = open_port({fd, 0, 1}, [binary, {packet, 4}, eof]),
    io:format(standard_error, "FAKE-READY~n", []),
    loop(Port, Mode, -2).

%% The first two requests (the handshake, and the ping that runs the
%% helper) are answered properly; the garbage starts with the third.
loop(Port, Mode, N) when N < 0 ->
    receive
        {Port, {data, Frame}} ->
            {Tag, _Command} = binary_to_term(Frame),
            port_command(Port, term_to_binary({Tag, {pong, <<"fake">>, 2}})),
            loop(Port, Mode, N + 1);
        {Port, eof} ->
            halt(0)
    end;
loop(Port, Mode, N) ->
    receive
        {Port, {data, Frame}} ->
            {Tag, _Command} = binary_to_term(Frame),
            [port_command(Port, R) || R <- garbage(N rem 12, Tag, N)],
            loop(Port, Mode, N + 1);
        {Port, eof} ->
            halt(0)
    end.

garbage(0, Tag, N) -> [tuple2(tag(Tag), tuple2(atom(<<"ok">>), unknown_atom("ok", N)))];
garbage(1, Tag, N) -> [tuple2(tag(Tag), tuple2(atom(<<"error">>), unknown_atom("error", N)))];
garbage(2, Tag, _) -> [term_to_binary({Tag, {ok, {999, 1, 1, 1}}})];
garbage(3, Tag, _) -> [term_to_binary({Tag, {ok, "10.0.0.1"}})];
garbage(4, Tag, _) ->
    [term_to_binary({Tag, {error, {ambiguous, [<<255, 254, 0>>, <<"$(rm -rf /)">>]}}})];
garbage(5, _, _) -> [<<"GET / HTTP/1.1\r\n\r\n">>];
garbage(6, Tag, _) -> [term_to_binary({Tag, {ok, lists:seq(1, 50000)}})];
garbage(7, Tag, _) -> [term_to_binary({Tag, nest(10000)})];
garbage(8, Tag, N) ->
    Node = unknown_atom("node", N),
    Pid = <<88, Node/binary, 1:32, 0:32, 1:32>>,
    [tuple2(tag(Tag), tuple2(atom(<<"ok">>), Pid))];
garbage(9, Tag, _) ->
    [term_to_binary({Tag, {ok, {10, 0, 0, 1}}}), term_to_binary({Tag, {ok, {10, 0, 0, 2}}})];
garbage(10, Tag, _) -> [term_to_binary({Tag + 100000, {ok, {10, 0, 0, 3}}})];
garbage(11, _, N) -> [tuple2(unknown_atom("tag", N), atom(<<"ok">>))].

nest(0) -> ok;
nest(N) -> {nest(N - 1)}.

tag(Tag) -> <<131, T/binary>> = term_to_binary(Tag), T.
atom(Name) -> <<119, (byte_size(Name)), Name/binary>>.
tuple2(A, B) -> <<131, 104, 2, A/binary, B/binary>>.

unknown_atom(What, N) ->
    Name = iolist_to_binary(io_lib:format("zz_fake_~s_~s_~b", [What, os:getpid(), N])),
    io:format(standard_error, "FAKE-ATOM ~s~n", [Name]),
    atom(Name).
`

// writeFake writes the fake helpers into dir and returns the path of the
// one for mode: garbage (the escript), silent (reads, never answers),
// outofstep (writes a 4 GiB length prefix first) or stuck (never reads,
// never exits, ignoring its stdin closing).
func writeFake(t *testing.T, dir, mode string) string {
	t.Helper()
	escript := filepath.Join(dir, "fake.escript")
	must(t, os.WriteFile(escript, []byte(fakeEscript), 0o755))
	body := map[string]string{
		// No crash dump in the working directory should it write to a
		// node that is gone.
		"garbage":   "ERL_CRASH_DUMP_SECONDS=0 exec escript " + escript + " garbage\n",
		"silent":    "exec cat >/dev/null\n",
		"outofstep": "printf '\\377\\377\\377\\377'\nexec cat >/dev/null\n",
		"stuck":     "exec sleep 3600\n",
	}[mode]
	path := filepath.Join(dir, mode)
	must(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755))
	return path
}

// A helper that writes garbage, stops answering, writes something that is
// not a frame, or hangs. The port owner stays the same process, every
// caller gets an answer within a bounded time, and no atom named by the
// helper comes to exist.
func TestFaultHostileHelper(t *testing.T) {
	dir := t.TempDir()
	t.Run("garbage", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + writeFake(t, dir, "garbage"), "EPMD_DOCKER_TIMEOUT=3000"})
		owner := a.Eval("whereis(epmd_docker_helper)", 5*time.Second)
		// The first request runs the helper; an escript takes a while to
		// start on a busy machine, so this one may wait (a request that
		// times out would make every lookup below fail at once). The fake
		// answers it, and the handshake before it, properly.
		if got := a.Eval("epmd_docker_helper:request(epmd_docker_helper, ping, 30000)", 40*time.Second); got != `{pong,<<"fake">>,2}` {
			t.Fatalf("ping that runs the fake = %s, want {pong,<<\"fake\">>,2}", got)
		}
		waitOutput(t, a, "FAKE-READY", 30*time.Second)
		atomsBefore := a.Eval("erlang:system_info(atom_count)", 5*time.Second)
		var hosts []string
		for i := 0; i < 36; i++ {
			hosts = append(hosts, fmt.Sprintf("garbage-host-%d-%s", i, randHex(2)))
		}
		// Half through the distribution path, half asking the helper only.
		startLookups(t, a, "fault_garbage", askAddress, hosts[:18])
		startLookups(t, a, "fault_garbage2", askResolve, hosts[18:])
		results := append(collectLookups(t, a, "fault_garbage", 30*time.Second), collectLookups(t, a, "fault_garbage2", 30*time.Second)...)
		seen := map[string]int{}
		slowest := 0
		for i, r := range results {
			seen[r.Answer]++
			slowest = max(slowest, r.Ms)
			if !strings.HasPrefix(r.Answer, "{error,") && r.Answer != "{ok,{10,0,0,1}}" {
				t.Errorf("lookup of %s: got %s, want an error (or the fake's one valid answer)", hosts[i], r.Answer)
			}
			// The request timeout, the call margin, and the ordinary
			// lookup that follows.
			if r.Ms > 7000 {
				t.Errorf("lookup of %s took %d ms, want at most the request timeout and an ordinary lookup", hosts[i], r.Ms)
			}
		}
		t.Logf("answers: %v; slowest %d ms", seen, slowest)
		for _, want := range []string{"{error,bad_reply}", "{error,timeout}", "{ok,{10,0,0,1}}"} {
			if seen[want] == 0 {
				t.Errorf("no lookup answered %s: the fake did not cover its cases", want)
			}
		}
		if got := a.Eval("whereis(epmd_docker_helper)", 5*time.Second); got != owner {
			t.Errorf("port owner %s, want the same process %s", got, owner)
		}
		if got := a.Eval("maps:get(restarts, epmd_docker_helper:status(epmd_docker_helper))", 5*time.Second); got != "0" {
			t.Errorf("restarts = %s, want 0: garbage is no reason to restart", got)
		}
		var names []string
		for _, l := range matchingLines(a.Output(), "FAKE-ATOM ") {
			names = append(names, strconv.Quote(strings.TrimSpace(l[strings.Index(l, "FAKE-ATOM ")+len("FAKE-ATOM "):])))
		}
		if len(names) < 12 {
			t.Fatalf("the fake named %d unknown atoms, want at least 12\n%s", len(names), a.Output())
		}
		created := a.Eval(fmt.Sprintf("[N || N <- [%s], try list_to_existing_atom(N) of _ -> true catch error:badarg -> false end]", strings.Join(names, ", ")), 10*time.Second)
		if created != "[]" {
			t.Errorf("atoms the helper named now exist: %s", created)
		}
		t.Logf("atom_count %s before, %s after %d replies naming %d unknown atoms", atomsBefore,
			a.Eval("erlang:system_info(atom_count)", 5*time.Second), len(hosts), len(names))
	})
	t.Run("silent", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + writeFake(t, dir, "silent"), "EPMD_DOCKER_TIMEOUT=1000"})
		owner := a.Eval("whereis(epmd_docker_helper)", 5*time.Second)
		pid := helperOSPid(t, a)
		// Silent for five seconds while it owes answers: found hung. After
		// the first timeout, lookups fail at once (unresponsive) rather
		// than each waiting out the timeout.
		deadline := time.Now().Add(7 * time.Second)
		for time.Now().Before(deadline) {
			start := time.Now()
			got := a.Eval(`epmd_docker:resolve("some-container")`, 10*time.Second)
			if got != "{error,timeout}" && got != "{error,helper_down}" && got != "{error,unresponsive}" {
				t.Errorf("resolve = %s, want {error,timeout}, then {error,unresponsive}", got)
			}
			if took := time.Since(start); took > 2500*time.Millisecond {
				t.Errorf("resolve took %v, want about the 1 s request timeout", took)
			}
		}
		newPid := waitHelperUp(t, a, pid)
		if got := a.Eval("whereis(epmd_docker_helper)", 5*time.Second); got != owner {
			t.Errorf("port owner %s, want the same process %s", got, owner)
		}
		waitGone(t, pid, 5*time.Second)
		t.Logf("silent helper %d replaced by %d", pid, newPid)
		waitOutput(t, a, "while it owed an answer", 5*time.Second)
	})
	t.Run("out_of_step", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + writeFake(t, dir, "outofstep"), "EPMD_DOCKER_TIMEOUT=10000"})
		owner := a.Eval("whereis(epmd_docker_helper)", 5*time.Second)
		// Run by the first request, then restarted at once, again and
		// again, never waiting for 4 GiB.
		a.Eval("epmd_docker_helper:request(ping)", 10*time.Second)
		waitEval(t, a, "maps:get(restarts, epmd_docker_helper:status(epmd_docker_helper)) >= 2", 10*time.Second,
			func(s string) bool { return s == "true" })
		start := time.Now()
		if got := a.Eval(`epmd_docker:resolve("some-container")`, 15*time.Second); got != "{error,helper_down}" {
			t.Errorf("resolve = %s, want {error,helper_down}", got)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("resolve took %v, want at once, not the 10 s timeout", took)
		}
		mem := a.Eval("erlang:memory(total)", 5*time.Second)
		if n, _ := strconv.Atoi(mem); n > 512<<20 {
			t.Errorf("erlang:memory(total) = %s: the 4 GiB length prefix was allocated", mem)
		}
		if got := a.Eval("whereis(epmd_docker_helper)", 5*time.Second); got != owner {
			t.Errorf("port owner %s, want the same process %s", got, owner)
		}
		waitOutput(t, a, "not a reply: a length prefix of 4294967295 bytes", 5*time.Second)
	})
	t.Run("stuck", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + writeFake(t, dir, "stuck"), "EPMD_DOCKER_TIMEOUT=1000"})
		pid := helperOSPid(t, a)
		t.Cleanup(func() {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "sleep" {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && processRuns(pid) {
			a.Eval(`epmd_docker:resolve("some-container")`, 10*time.Second)
		}
		if processRuns(pid) {
			t.Fatalf("stuck helper %d still runs\n%s", pid, a.Output())
		}
		newPid := waitHelperUp(t, a, pid)
		// The node halts when its driver's input ends, so no terminate/2
		// runs: the restarted helper, stuck as well, is killed here.
		_ = syscall.Kill(newPid, syscall.SIGKILL)
	})
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

// The real helper binary, driven through its stdin and stdout as the port
// owner drives it, with everything a port owner should never send: each
// piece gets an error reply or is skipped, the ping after it is answered,
// a real lookup works at the end, a 4 GiB length prefix is not allocated,
// and the helper exits cleanly when its input ends.
func TestHelperBinaryHostileInput(t *testing.T) {
	c := runSleeper(t)
	hostname := docker(t, "inspect", "-f", "{{.Config.Hostname}}", c)
	ip := strings.TrimSpace(containerIP(t, c))
	h := startHelperBinary(t)

	resolveABC := etfRequest(7, etf.Tuple{etf.Atom("resolve"), []byte("abc"), etf.Atom("inet")})
	nested := append([]byte("\x83h\x02a\x09"), bytes.Repeat([]byte("h\x01"), 10000)...)
	nested = append(nested, 'j')
	type piece struct {
		name string
		in   []byte // written as is: frames, or not
		want []string
	}
	pieces := []piece{
		{"iiiii0 (out of memory in a naive decoder)", frame([]byte("iiiii0")), nil},
		{"iiiii0 with version byte", frame([]byte("\x83iiiii0")), nil},
		{"iiiii0 as command", frame([]byte("\x83h\x02a\x07iiiii0")), []string{"{7,{error,bad_request}}"}},
		{"binary length 0xFFFFFFFC", frame([]byte("\x83h\x02a\x07m\xff\xff\xff\xfc")), []string{"{7,{error,bad_request}}"}},
		{"not ETF", frame([]byte("GET / HTTP/1.1\r\n\r\n")), nil},
		{"empty frame", frame(nil), nil},
		{"compressed term of 4 GiB", frame([]byte("\x83P\xff\xff\xff\xffx\x9c\x03\x00\x00\x00\x00\x01")), nil},
		{"nested 10000 deep", frame(nested), []string{"{9,{error,bad_request}}"}},
		{"unknown command", frame(etfRequest(8, etf.Atom("rm_rf"))), []string{"{8,{error,bad_request}}"}},
		{"unknown family", frame(etfRequest(8, etf.Tuple{etf.Atom("resolve"), []byte("web"), etf.Atom("inet4")})), []string{"{8,{error,bad_request}}"}},
		{"resolve with 4 elements", frame(etfRequest(8, etf.Tuple{etf.Atom("resolve"), []byte("web"), etf.Atom("inet"), 1})), []string{"{8,{error,bad_request}}"}},
		{"negative tag", frame(etfRequest(-1, etf.Atom("ping"))), nil},
		{"tag 2^32", frame(etfRequest(int64(1)<<32, etf.Atom("ping"))), nil},
		{"atom tag", frame(etfRequest(etf.Atom("x"), etf.Atom("ping"))), nil},
	}
	for i, host := range []string{
		strings.Repeat("a", 4096), "", "we\x00b", "we\xffb", "$(rm -rf /);", "`reboot`", "a b",
		"../../containers/json", "web%2F..", "web\r\nHost: evil", "-web", "é",
	} {
		tag := 100 + i
		pieces = append(pieces, piece{fmt.Sprintf("host %.40q", host),
			frame(etfRequest(tag, etf.Tuple{etf.Atom("resolve"), []byte(host), etf.Atom("inet")})),
			[]string{fmt.Sprintf("{%d,{error,bad_host}}", tag)}})
	}
	for n := range len(resolveABC) {
		p := piece{name: fmt.Sprintf("request cut to %d bytes", n), in: frame(resolveABC[:n])}
		if n >= 5 { // version, SMALL_TUPLE_EXT, arity, SMALL_INTEGER_EXT, tag
			p.want = []string{"{7,{error,bad_request}}"}
		}
		pieces = append(pieces, p)
	}

	for i, p := range pieces {
		tag := 1000 + i
		h.write(p.in)
		h.write(frame(etfRequest(tag, etf.Atom("ping"))))
		got := h.repliesUntilPong(tag)
		if strings.Join(got, " ") != strings.Join(p.want, " ") {
			t.Errorf("%s: got replies %v, want %v", p.name, got, p.want)
		}
	}
	h.write(frame(etfRequest(42, etf.Tuple{etf.Atom("resolve"), []byte(hostname), etf.Atom("inet")})))
	if got, want := h.reply(), fmt.Sprintf("{42,{ok,%s}}", erlIP(ip)); got != want {
		t.Errorf("resolve(%s) after the hostile input: got %s, want %s", hostname, got, want)
	}

	// Last, since the stream cannot recover from it: a prefix of 4 GiB.
	// The helper exits at once with status 65 (corrupt input), reading
	// nothing of the body.
	h.write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	code := h.close()
	if code != 65 {
		t.Errorf("helper exited with %d after a 4 GiB length prefix, want 65\nstderr:\n%s", code, h.stderr.String())
	}
	if strings.Contains(h.stderr.String(), "panic") {
		t.Errorf("helper panicked:\n%s", h.stderr.String())
	}
}

// helperBinary is priv/epmd-docker in port mode.
type helperBinary struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	frames  chan []byte
	stderr  *lockedBuffer
	waitErr chan error
}

func startHelperBinary(t *testing.T) *helperBinary {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "priv", "epmd-docker"), "port")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	h := &helperBinary{t: t, cmd: cmd, stdin: stdin, frames: make(chan []byte, 64), stderr: &lockedBuffer{}, waitErr: make(chan error, 1)}
	cmd.Stderr = h.stderr
	must(t, cmd.Start())
	go func() {
		defer close(h.frames)
		for {
			var hdr [4]byte
			if _, err := io.ReadFull(stdout, hdr[:]); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(stdout, body); err != nil {
				return
			}
			h.frames <- body
		}
	}()
	go func() { h.waitErr <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return h
}

func (h *helperBinary) write(b []byte) {
	h.t.Helper()
	if _, err := h.stdin.Write(b); err != nil {
		h.t.Fatalf("writing to the helper: %v\nstderr:\n%s", err, h.stderr.String())
	}
}

// reply is the next reply, printed as Erlang would. Pushes ({push, _},
// protocol 2), which come whenever Docker's events say so, are skipped.
func (h *helperBinary) reply() string {
	h.t.Helper()
	for {
		if r := h.frame(); !strings.HasPrefix(r, "{push,") {
			return r
		}
	}
}

// frame is the next frame, printed as Erlang would.
func (h *helperBinary) frame() string {
	h.t.Helper()
	select {
	case b, ok := <-h.frames:
		if !ok {
			h.t.Fatalf("helper output ended\nstderr:\n%s", h.stderr.String())
		}
		if len(b) == 0 || b[0] != 131 {
			h.t.Fatalf("reply without version byte: %q", b)
		}
		term, _, err := etf.Decode(b[1:], nil, etf.DecodeOptions{})
		if err != nil {
			h.t.Fatalf("undecodable reply %q: %v", b, err)
		}
		return showTerm(term)
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no reply within 10 s\nstderr:\n%s", h.stderr.String())
		return ""
	}
}

// repliesUntilPong returns the replies before the pong for tag.
func (h *helperBinary) repliesUntilPong(tag int) []string {
	h.t.Helper()
	var got []string
	pong := fmt.Sprintf("{%d,{pong,", tag)
	for {
		r := h.reply()
		if strings.HasPrefix(r, pong) {
			return got
		}
		got = append(got, r)
	}
}

// close ends the helper's input and returns its exit code.
func (h *helperBinary) close() int {
	h.t.Helper()
	_ = h.stdin.Close()
	select {
	case err := <-h.waitErr:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return 0
	case <-time.After(5 * time.Second):
		h.t.Fatalf("helper still runs 5 s after its input ended\nstderr:\n%s", h.stderr.String())
		return -1
	}
}

// etfRequest encodes {Tag, Command} as term_to_binary/1 would.
func etfRequest(tag any, cmd etf.Term) []byte {
	buf := &lib.Buffer{B: make([]byte, 1, 128)}
	buf.B[0] = 131
	if err := etf.Encode(etf.Tuple{tag, cmd}, buf, etf.EncodeOptions{}); err != nil {
		panic(err)
	}
	return buf.B
}

// frame prefixes b with its {packet,4} length.
func frame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// showTerm prints a decoded reply the way ~0tp would, near enough.
func showTerm(term etf.Term) string {
	switch v := term.(type) {
	case etf.Atom:
		return string(v)
	case []byte:
		return fmt.Sprintf("<<%q>>", v)
	case etf.Tuple:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = showTerm(e)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case etf.List:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = showTerm(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		return fmt.Sprint(v)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dockerd stops: lookups fail at once with docker_unavailable, a connect
// fails well within the setup time, and the log says why. dockerd comes
// back: the same helper, without the node restarting, answers for new
// containers, never with a dead container's address, and subscribes to
// events again (it caches again, which it does only with a live stream).
//
// The daemon stopped is a private one, started here on its own socket,
// data and exec roots and bridge, so that the shared daemon and the other
// tests' containers are untouched.
func TestFaultDaemonRestart(t *testing.T) {
	d := startPrivateDaemon(t)
	d.loadImage()
	idA := d.runSleeper()
	hostA := d.docker("inspect", "-f", "{{.Config.Hostname}}", idA)
	ipA := d.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", idA)

	a := startAdmin(t, []string{"DOCKER_HOST=" + d.host, "EPMD_DOCKER_TTL=10m"})
	if got, want := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, hostA), 10*time.Second), "{ok,"+erlIP(ipA)+"}"; got != want {
		t.Fatalf("resolve(%s) = %s, want %s\n%s", hostA, got, want, a.Output())
	}
	d.waitLog(0, eventsCall, 15*time.Second)
	helper := helperOSPid(t, a)

	// dockerd hangs: a name never asked before waits for Docker at most the
	// helper's own deadline, and a connect fails within the setup time.
	d.pause()
	fresh := "fresh-" + randHex(4)
	start := time.Now()
	if got := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, fresh), 10*time.Second); got != "{error,timeout}" {
		t.Errorf("resolve(%s) with dockerd hung = %s, want {error,timeout}", fresh, got)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("resolve with dockerd hung took %v, want the helper's 1.5 s deadline", took)
	}
	start = time.Now()
	if got := a.Connect("app@" + fresh); got != "false" {
		t.Errorf("connect_node(app@%s) with dockerd hung = %s, want false", fresh, got)
	}
	took := time.Since(start)
	t.Logf("with dockerd hung, connect_node answered false in %v", took)
	if took > 6*time.Second {
		t.Errorf("connect_node took %v with dockerd hung, want within the 7 s setup time", took)
	}
	d.resume()

	d.stop()
	for i := 0; i < 3; i++ {
		start := time.Now()
		got := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, hostA), 10*time.Second)
		took := time.Since(start)
		if got != "{error,docker_unavailable}" {
			t.Errorf("resolve(%s) with dockerd stopped = %s, want {error,docker_unavailable}", hostA, got)
		}
		if took > 1500*time.Millisecond {
			t.Errorf("resolve(%s) with dockerd stopped took %v, want at once", hostA, took)
		}
	}
	start = time.Now()
	if got := a.Connect("app@" + hostA); got != "false" {
		t.Errorf("connect_node(app@%s) with dockerd stopped = %s, want false", hostA, got)
	}
	took = time.Since(start)
	t.Logf("with dockerd stopped, connect_node answered false in %v", took)
	if took > 5*time.Second {
		t.Errorf("connect_node took %v with dockerd stopped, want well within the 7 s setup time", took)
	}
	waitOutput(t, a, "the Docker daemon cannot be reached", 5*time.Second)

	since := d.logSize()
	d.start()
	// A died with the daemon: its address is history.
	if got := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, hostA), 10*time.Second); got != "{error,not_found}" {
		t.Errorf("resolve(%s) after dockerd restarted = %s, want {error,not_found}", hostA, got)
	}
	idB := d.runSleeper()
	hostB := d.docker("inspect", "-f", "{{.Config.Hostname}}", idB)
	ipB := d.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", idB)
	if got, want := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, hostB), 10*time.Second), "{ok,"+erlIP(ipB)+"}"; got != want {
		t.Errorf("resolve(%s) after dockerd restarted = %s, want %s", hostB, got, want)
	}
	d.waitLog(since, eventsCall, 20*time.Second)
	if got := helperOSPid(t, a); got != helper {
		t.Errorf("helper is %d after dockerd restarted, want the same process %d", got, helper)
	}
	// Caching is on again, which it is only while the event stream is
	// open: repeated lookups no longer list containers.
	a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, hostB), 10*time.Second)
	before := d.countLog(since, listCall)
	a.Eval(fmt.Sprintf(`[epmd_docker:resolve("%s") || _ <- lists:seq(1, 20)]`, hostB), 20*time.Second)
	if n := d.countLog(since, listCall) - before; n > 2 {
		t.Errorf("20 lookups of a known container listed containers %d times: not caching, so no live event stream", n)
	}
	// And an event still invalidates: B stopped is B gone, as soon as the
	// event has reached the helper.
	d.docker("stop", "-t", "1", idB)
	waitEval(t, a, fmt.Sprintf(`epmd_docker:resolve("%s")`, hostB), 5*time.Second,
		func(s string) bool { return s == "{error,not_found}" })
}

var (
	eventsCall = regexp.MustCompile(`Calling GET /v[0-9.]+/events`)
	listCall   = regexp.MustCompile(`Calling GET /v[0-9.]+/containers/json`)
)

// privateDaemon is a dockerd of the test's own.
type privateDaemon struct {
	t       *testing.T
	dir     string
	host    string // DOCKER_HOST for it
	bridge  string
	args    []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// startPrivateDaemon starts a dockerd that shares nothing with the
// system's: socket, data root, exec root, pid file and configuration are
// in a temporary directory; its containers attach to a bridge made here
// for it, on a subnet of their own, and it touches no iptables rule and no
// sysctl. (--bridge=none would not do: dockerd then deletes docker0.)
//
// It needs root, dockerd and ip. Without them the test is skipped, unless
// EPMD_DOCKER_TEST_DAEMON_RESTART=1 says it must run.
func startPrivateDaemon(t *testing.T) *privateDaemon {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, p := range []string{"dockerd", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("EPMD_DOCKER_TEST_DAEMON_RESTART") == "1" {
			t.Fatalf("a private dockerd needs %s", strings.Join(missing, ", "))
		}
		t.Skipf("a private dockerd needs %s (set EPMD_DOCKER_TEST_DAEMON_RESTART=1 to make this an error)", strings.Join(missing, ", "))
	}
	dir, err := os.MkdirTemp("", "edd")
	must(t, err)
	d := &privateDaemon{t: t, dir: dir, host: "unix://" + filepath.Join(dir, "docker.sock"), bridge: "edp" + randHex(3), logPath: filepath.Join(dir, "dockerd.log")}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})

	subnet := ""
	routes, _ := exec.Command("ip", "route").Output()
	for i := 0; i < 50 && subnet == ""; i++ {
		n, _ := strconv.ParseUint(randHex(1), 16, 8)
		if s := fmt.Sprintf("10.213.%d.", n); n > 0 && n < 255 && !strings.Contains(string(routes), s) {
			subnet = s
		}
	}
	if subnet == "" {
		t.Fatal("no free 10.213.x.0/24 subnet for the private daemon")
	}
	for _, args := range [][]string{
		{"link", "add", "name", d.bridge, "type", "bridge"},
		{"addr", "add", subnet + "1/24", "dev", d.bridge},
		{"link", "set", d.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", d.bridge).Run() })

	config := filepath.Join(dir, "daemon.json")
	must(t, os.WriteFile(config, []byte("{}\n"), 0o644))
	d.args = []string{
		"--debug",
		"--host", d.host,
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge", d.bridge,
		"--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
		"--userland-proxy=false",
	}
	t.Cleanup(func() {
		if d.cmd != nil {
			// Containers first, so that the daemon stops quickly.
			out, _ := exec.Command("docker", "-H", d.host, "ps", "-aq").Output()
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				_ = exec.Command("docker", append([]string{"-H", d.host, "rm", "-f"}, ids...)...).Run()
			}
			d.stop()
		}
	})
	d.start()
	return d
}

// start runs dockerd and waits until it answers.
func (d *privateDaemon) start() {
	d.t.Helper()
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(d.t, err)
	defer logf.Close()
	cmd := exec.Command("dockerd", d.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Should the test binary die, the daemon goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("starting dockerd: %v", err)
	}
	d.cmd, d.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(d.done)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if exec.Command("docker", "-H", d.host, "version").Run() == nil {
			return
		}
		select {
		case <-d.done:
			d.t.Fatalf("private dockerd exited:\n%s", d.logTail())
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("private dockerd does not answer after 60 s:\n%s", d.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pause stops dockerd in its tracks (SIGSTOP): it holds its connections
// open and answers nothing, as a daemon that hangs would.
func (d *privateDaemon) pause() {
	d.t.Helper()
	must(d.t, d.cmd.Process.Signal(syscall.SIGSTOP))
	d.t.Cleanup(d.resume)
}

func (d *privateDaemon) resume() {
	if d.cmd != nil {
		_ = d.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// stop stops dockerd as a service manager would, with SIGTERM.
func (d *privateDaemon) stop() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("private dockerd ignored SIGTERM for 60 s:\n%s", d.logTail())
	}
	d.cmd = nil
}

// docker runs the docker CLI against this daemon.
func (d *privateDaemon) docker(args ...string) string {
	d.t.Helper()
	return docker(d.t, append([]string{"-H", d.host}, args...)...)
}

// loadImage copies the test image from the system's daemon.
func (d *privateDaemon) loadImage() {
	d.t.Helper()
	save := exec.Command("docker", "save", image)
	load := exec.Command("docker", "-H", d.host, "load")
	pipe, err := save.StdoutPipe()
	must(d.t, err)
	load.Stdin = pipe
	var out bytes.Buffer
	load.Stdout, load.Stderr = &out, &out
	must(d.t, load.Start())
	must(d.t, save.Run())
	if err := load.Wait(); err != nil {
		d.t.Fatalf("docker load: %v: %s", err, out.String())
	}
}

// runSleeper starts a container that only sleeps, and stops at once when
// the daemon stops.
func (d *privateDaemon) runSleeper() string {
	d.t.Helper()
	return d.docker("run", "-d", "--label", label, "--stop-timeout", "1", "-v", "/usr:/usr:ro", image, "sleep", "3600")
}

func (d *privateDaemon) logSize() int64 {
	fi, err := os.Stat(d.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (d *privateDaemon) logFrom(offset int64) string {
	b, _ := os.ReadFile(d.logPath)
	if int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}

func (d *privateDaemon) countLog(offset int64, re *regexp.Regexp) int {
	return len(re.FindAllString(d.logFrom(offset), -1))
}

// waitLog waits for a daemon log line after offset that matches re.
func (d *privateDaemon) waitLog(offset int64, re *regexp.Regexp, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for d.countLog(offset, re) == 0 {
		if time.Now().After(deadline) {
			d.t.Fatalf("no %q in the private dockerd's log within %v:\n%s", re, timeout, d.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *privateDaemon) logTail() string {
	s := d.logFrom(0)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// waitOutput waits for the node to print a line containing want: logger
// prints after the call that logged has returned.
func waitOutput(t *testing.T, a *Admin, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(a.Output(), want) {
		if time.Now().After(deadline) {
			t.Errorf("no line says %q within %v:\n%s", want, timeout, a.Output())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The helper only reads from Docker, through the endpoints the docker
// package lists, and the cookie appears neither in the helper's arguments
// or environment, nor in anything it logs or sends to Docker. The helper
// talks to Docker through a recording proxy here, at debug log level,
// across lookups, a listing, a container start (an event, then an
// inspect) and a restart of the helper (a new subscription).
func TestSecurityReadOnlyNoCookie(t *testing.T) {
	proxy := startDockerProxy(t)
	c := startNode(t, nodeSpec{})
	a := startAdmin(t, []string{"DOCKER_HOST=" + proxy.host, "EPMD_DOCKER_LOG=debug"})
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) through the proxy = %s\n%s", c.Node, got, a.Output())
	}
	a.Eval("epmd_docker:containers()", 10*time.Second)
	a.Eval("epmd_docker:nodes()", 20*time.Second)
	a.Eval(`epmd_docker:resolve("no-such-host")`, 10*time.Second)
	id := runSleeper(t)
	host := docker(t, "inspect", "-f", "{{.Config.Hostname}}", id)
	waitEval(t, a, fmt.Sprintf(`epmd_docker:resolve("%s")`, host), 10*time.Second,
		func(s string) bool { return strings.HasPrefix(s, "{ok,") })

	pid := helperOSPid(t, a)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	must(t, err)
	if args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"); len(args) != 2 || filepath.Base(args[0]) != "epmd-docker" || args[1] != "port" {
		t.Errorf("helper command line %q, want [.../epmd-docker port]", args)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	must(t, err)
	if strings.Contains(string(environ), cookie) {
		t.Errorf("the cookie is in the helper's environment")
	}
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	waitHelperUp(t, a, pid)
	waitEval(t, a, fmt.Sprintf(`epmd_docker:resolve("%s")`, host), 10*time.Second,
		func(s string) bool { return strings.HasPrefix(s, "{ok,") })

	allowed := documentedEndpoints(t)
	seen := map[string]int{}
	for _, call := range proxy.calls() {
		method, rest, _ := strings.Cut(call, " ")
		path, query, _ := strings.Cut(rest, "?")
		if !allowed.MatchString(method + " " + path) {
			t.Errorf("the helper called %s", call)
		}
		if strings.Contains(call, cookie) {
			t.Errorf("the cookie was sent to Docker: %s", call)
		}
		_ = query
		ep := regexp.MustCompile(`^/v[0-9.]+`).ReplaceAllString(path, "")
		ep = regexp.MustCompile(`/containers/[0-9a-f]{64}/`).ReplaceAllString(ep, "/containers/{id}/")
		seen[method+" "+ep]++
	}
	t.Logf("Docker API calls by the helper: %v", seen)
	for _, want := range []string{"GET /containers/json", "GET /events"} {
		if seen[want] == 0 {
			t.Errorf("no %s seen: is the helper using the proxy?", want)
		}
	}
	if strings.Contains(a.Output(), cookie) {
		t.Errorf("the cookie appears in the node's output (its log, or the helper's)")
	}
}

// documentedEndpoints reads the list of endpoints in the docker package's
// comment, the one place they are written down, and returns a pattern for
// "METHOD /path" that matches them and nothing else. GET endpoints may be
// asked with HEAD too (the client pings with HEAD /_ping first).
func documentedEndpoints(t *testing.T) *regexp.Regexp {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "go", "internal", "docker", "docker.go"))
	must(t, err)
	line := regexp.MustCompile(`(?m)^//\t(GET) (/\S*)`)
	var paths []string
	for _, m := range line.FindAllStringSubmatch(string(src), -1) {
		path, _, _ := strings.Cut(m[2], "?")
		path = regexp.QuoteMeta(path)
		path = strings.ReplaceAll(path, `\{id\}`, `[0-9a-f]{64}`)
		paths = append(paths, path)
	}
	if len(paths) < 4 {
		t.Fatalf("found %d endpoints in the docker package's comment, want its list", len(paths))
	}
	return regexp.MustCompile(`^(GET|HEAD) (/v[0-9.]+)?(` + strings.Join(paths, "|") + `)$`)
}

// dockerProxy forwards Docker API requests to the system's daemon and
// records each request line.
type dockerProxy struct {
	host string // DOCKER_HOST for it
	mu   sync.Mutex
	log  []string
}

func (p *dockerProxy) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func startDockerProxy(t *testing.T) *dockerProxy {
	t.Helper()
	upstream := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			t.Skipf("DOCKER_HOST=%s: the recording proxy speaks to unix sockets only", h)
		}
		upstream = strings.TrimPrefix(h, "unix://")
	}
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	l, err := net.Listen("unix", sock)
	must(t, err)
	p := &dockerProxy{host: "unix://" + sock}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", upstream)
			},
		},
		FlushInterval: -1, // the event stream
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.log = append(p.log, r.Method+" "+r.URL.RequestURI())
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}
