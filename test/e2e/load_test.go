package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Load: 100 Erlang processes on one admin node make 10,000 lookups
// through address_please/3, the distribution path, across 50 containers,
// by hostname and by container name. Every answer must be the address
// docker inspect reports, and none may time out. The latencies are a
// report, not an assertion: this machine is shared.
func TestLoadConcurrentLookups(t *testing.T) {
	const (
		containers = 50
		procs      = 100
		perProc    = 100
	)
	prefix := "load-" + randHex(3) + "-"
	ids := make([]string, containers)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4) // two cores, shared: a few docker runs at a time
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ids[i] = runSleeper(t, "--name", fmt.Sprintf("%s%02d", prefix, i))
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// What Docker says, in one inspect: name, hostname, address.
	out := docker(t, append([]string{"inspect", "-f", "{{.Name}} {{.Config.Hostname}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"}, ids...)...)
	var entries []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("docker inspect: unexpected line %q", line)
		}
		name := strings.TrimPrefix(f[0], "/")
		entries = append(entries, fmt.Sprintf("%q => %s", name, erlIP(f[2])), fmt.Sprintf("%q => %s", f[1], erlIP(f[2])))
	}

	a := startAdmin(t, nil)
	expr := oneLine(fmt.Sprintf(`begin
		Expected = #{%s},
		Hosts = list_to_tuple(maps:keys(Expected)),
		N = tuple_size(Hosts),
		Self = self(),
		T0 = erlang:monotonic_time(),
		Pids = [spawn(fun() ->
				R = [begin
					H = element((P * %d + I) rem N + 1, Hosts),
					S = erlang:monotonic_time(),
					A = epmd_docker:address_please("app", H, inet),
					E = erlang:monotonic_time(),
					{H, A, erlang:convert_time_unit(E - S, native, microsecond)}
				end || I <- lists:seq(1, %d)],
				Self ! {load, self(), R}
			end) || P <- lists:seq(1, %d)],
		All = lists:append([receive {load, Pid, R} -> R after 300000 -> [] end || Pid <- Pids]),
		Wall = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, millisecond),
		Wrong = [{H, A} || {H, A, _} <- All, A =/= {ok, maps:get(H, Expected)}],
		Lat = lists:sort([U || {_, _, U} <- All]),
		L = length(Lat),
		Pct = fun(Q) -> lists:nth(max(1, ceil(Q * L)), Lat) end,
		{L, length(Wrong), lists:sublist(Wrong, 5), Pct(0.5), Pct(0.9), Pct(0.99), lists:last(Lat), Wall}
	end`, strings.Join(entries, ", "), perProc, perProc, procs))
	got := a.Eval(expr, 6*time.Minute)

	m := regexp.MustCompile(`^\{(\d+),(\d+),(.*),(\d+),(\d+),(\d+),(\d+),(\d+)\}$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("load run: %s\n%s", got, a.Output())
	}
	n, _ := strconv.Atoi(m[1])
	wrong, _ := strconv.Atoi(m[2])
	us := func(i int) time.Duration { v, _ := strconv.Atoi(m[i]); return time.Duration(v) * time.Microsecond }
	wall, _ := strconv.Atoi(m[8])
	if n != procs*perProc {
		t.Errorf("%d lookups answered, want %d", n, procs*perProc)
	}
	if wrong != 0 {
		t.Errorf("%d of %d lookups did not give the address docker inspect reports; first: %s", wrong, n, m[3])
	}
	t.Logf("%d lookups by %d processes across %d containers (%d names) in %d ms: p50 %v, p90 %v, p99 %v, max %v",
		n, procs, containers, len(entries), wall, us(4), us(5), us(6), us(7))
	if st := a.Eval("maps:get(restarts, epmd_docker_helper:status(epmd_docker_helper))", 5*time.Second); st != "0" {
		t.Errorf("the helper restarted %s times under load", st)
	}
}

// Burst: 10,000 lookups of one running container at once, from as many
// Erlang processes, while both cores are kept busy by other processes and
// the helper, as a starved process would, does not read until the lookups
// have reached the port owner. Every answer must be the container's
// address. Before issue 11 a write to the busy port failed at once, the
// failure fell back to DNS, and the lookups got {error, nxdomain}.
func TestLoadBurstBusyCores(t *testing.T) {
	id := runSleeper(t)
	host := containerIP(t, id)
	hostname := strings.TrimSpace(docker(t, "inspect", "-f", "{{.Config.Hostname}}", id))

	// Time enough for 10,000 processes to start on a loaded machine before
	// the helper may read again: nothing here may time out.
	a := startAdmin(t, []string{"EPMD_DOCKER_TIMEOUT=20000"}, "-kernel", "net_setuptime", "70")
	for i := 0; i < runtime.NumCPU(); i++ {
		busy := exec.Command("sh", "-c", "while :; do :; done")
		if err := busy.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = busy.Process.Kill(); _ = busy.Wait() })
	}
	pid := helperOSPid(t, a)
	// The lookups run in processes that rpc spawns, compiled code: started
	// from interpreted code they would take seconds to start here, and a
	// helper that does not read for 5 s is rightly taken for a hung one.
	expr := oneLine(fmt.Sprintf(`begin
		Owner = whereis(epmd_docker_helper),
		os:cmd("kill -STOP %d"),
		Keys = [rpc:async_call(node(), epmd_docker, address_please, ["app", %q, inet])
			|| _ <- lists:seq(1, 10000)],
		Drained = fun D(0) -> ok; D(N) -> timer:sleep(20), case process_info(Owner, message_queue_len) of
			{message_queue_len, 0} -> D(N - 1); _ -> D(3) end end,
		Drained(3),
		os:cmd("kill -CONT %d"),
		All = [rpc:yield(K) || K <- Keys],
		Wrong = [A || A <- All, A =/= {ok, %s}],
		{length(All), length(Wrong), lists:sublist(lists:usort(Wrong), 5)}
	end`, pid, hostname, pid, erlIP(host)))
	got := a.Eval(expr, 4*time.Minute)
	m := regexp.MustCompile(`^\{(\d+),(\d+),(.*)\}$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("burst: %s\n%s", got, a.Output())
	}
	if m[1] != "10000" || m[2] != "0" {
		t.Errorf("%s of %s lookups of %s did not give %s; kinds: %s", m[2], m[1], hostname, host, m[3])
	}
	if st := a.Eval("maps:get(restarts, epmd_docker_helper:status(epmd_docker_helper))", 5*time.Second); st != "0" {
		t.Errorf("the helper restarted %s times in the burst", st)
	}
}
