package e2e

// Faults of the helper process: killed while lookups wait on it, unable
// to run, left behind when the VM is killed (it must not be), and replaced
// by a fake that writes garbage, goes deaf or hangs.

import (
	"fmt"
	"os"
	"path/filepath"
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
