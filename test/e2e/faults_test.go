package e2e

// Faults on the distribution path, end to end: the helper killed, missing
// or misbehaving, the Docker daemon stopping and coming back, the VM
// killed, an address taken over by another container. Each test drives a
// real admin node with -epmd_module epmd_docker, the real helper (or a fake
// standing in for it) and a real dockerd.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	waitEval(t, a, "maps:get(pending, epmd_docker_helper:status(epmd_docker_helper))", 10*time.Second,
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
				if got != "{error,helper_unavailable}" && got != "{error,helper_down}" {
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

// helperOSPid is the OS process ID of the admin node's helper.
func helperOSPid(t *testing.T, a *Admin) int {
	t.Helper()
	got := waitEval(t, a, "maps:get(os_pid, epmd_docker_helper:status(epmd_docker_helper))", 10*time.Second,
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
-mode(compile).

main([Mode | _]) ->
    Port = open_port({fd, 0, 1}, [binary, {packet, 4}, eof]),
    loop(Port, Mode, 0).

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
		"garbage":   "exec escript " + escript + " garbage\n",
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
		a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + writeFake(t, dir, "garbage"), "EPMD_DOCKER_TIMEOUT=1000"})
		owner := a.Eval("whereis(epmd_docker_helper)", 5*time.Second)
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
			if r.Ms > 5000 {
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
		// Silent for five seconds while requests time out: found hung.
		deadline := time.Now().Add(7 * time.Second)
		for time.Now().Before(deadline) {
			start := time.Now()
			got := a.Eval(`epmd_docker:resolve("some-container")`, 10*time.Second)
			if got != "{error,timeout}" && got != "{error,helper_down}" {
				t.Errorf("resolve = %s, want {error,timeout}", got)
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
		if n := len(matchingLines(a.Output(), "while requests timed out")); n < 1 {
			t.Errorf("no log line says the helper was found silent:\n%s", a.Output())
		}
	})
	t.Run("out_of_step", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + writeFake(t, dir, "outofstep"), "EPMD_DOCKER_TIMEOUT=10000"})
		owner := a.Eval("whereis(epmd_docker_helper)", 5*time.Second)
		// Restarted at once, again and again, never waiting for 4 GiB.
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
		if lines := matchingLines(a.Output(), "not a reply: a length prefix of 4294967295 bytes"); len(lines) == 0 {
			t.Errorf("no log line names the bad length prefix:\n%s", a.Output())
		}
	})
	t.Run("stuck", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_HELPER=" + writeFake(t, dir, "stuck"), "EPMD_DOCKER_TIMEOUT=1000"})
		pid := helperOSPid(t, a)
		t.Cleanup(func() {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "sleep" {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		deadline := time.Now().Add(7 * time.Second)
		for time.Now().Before(deadline) && processRuns(pid) {
			a.Eval(`epmd_docker:resolve("some-container")`, 10*time.Second)
		}
		waitGone(t, pid, 5*time.Second)
		newPid := waitHelperUp(t, a, pid)
		// Leave nothing behind either when the node stops.
		a.Close()
		waitGone(t, newPid, 5*time.Second)
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
