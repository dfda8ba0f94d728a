package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// results is everything one run measured.
type results struct {
	machine    machine
	containers int // ours
	others     int // running containers that are not ours, at the start
	quick      bool

	// 1: warm lookups, and what any port costs.
	warm, shellout, hostsFile, floor, ping, echo, spaced series
	// 2: cold lookups, and the Docker API requests behind them.
	setMiss, roundMiss, first, rawInspect, rawList, rawRound series
	// 3: one connection to a container node.
	connDocker, connHosts, connShell series
	// 4: erl from start to halt (and to its first lookup).
	startPlain, startDocker, startFirst series
	// 5: connecting to many nodes.
	cluster []clusterRun
	// 6: the helper.
	firstFailed     int
	rest, load      usage
	loadSeconds     float64
	loadOK, loadBad int
	// 7: a Docker event's way into the port owner's table.
	gone series
	// 8: a burst of lookups with both cores busy.
	burst              series
	burstN, burstWrong int
	// 9: many containers.
	scaleContainers      int
	scaleList, scaleMiss series
	scaleLs              series
	scaleRSS, scaleHWM   int64
	// 10: a Kubernetes pod, through port-forwards (kube.go).
	kubeWarm, kubeNew, kubeOpen series
	kubeSkipped                 string // why 10 was not measured
	kubeReused                  int    // connections of 10b that found a forward open
}

type clusterRun struct {
	nodes int
	mode  string // seq or par
	who   string // "epmd_docker" or "hosts file"
	t     series
}

// counts scales the iteration counts: blocks of each measurement are run
// in turn with their baselines.
type counts struct {
	blocks                int
	warm, shell, floor    int // per block
	spaced                int
	setMiss, roundMiss    int
	rawInspect, rawList   int
	connect, connectShell int
	clusterReps, startups int
	rest, load            time.Duration
	loadProcs             int
	gone, burst, sleepers int
	lsReps                int
}

func countsFor(quick bool) counts {
	c := counts{
		blocks: 3, warm: 5000, shell: 50, floor: 5000, spaced: 100,
		setMiss: 500, roundMiss: 50, rawInspect: 300, rawList: 50,
		connect: 25, connectShell: 5, clusterReps: 15, startups: 15,
		rest: 15 * time.Second, load: 5 * time.Second, loadProcs: 4,
		gone: 40, burst: 10000, sleepers: 450, lsReps: 5,
	}
	if quick {
		c.warm, c.shell, c.floor, c.spaced = 500, 5, 500, 10
		c.setMiss, c.roundMiss, c.rawInspect, c.rawList = 50, 5, 30, 5
		c.connect, c.connectShell, c.clusterReps, c.startups = 5, 2, 2, 3
		c.rest, c.load = 2*time.Second, time.Second
		c.gone, c.burst, c.sleepers, c.lsReps = 5, 2000, 30, 2
	}
	return c
}

// measure runs every measurement and returns the results.
func measure(ctx context.Context, s *settings) (*results, error) {
	cnt := countsFor(s.quick)
	res := &results{containers: s.containers, quick: s.quick}
	var err error
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

	api, err := newRawAPI(ctx)
	if err != nil {
		return nil, err
	}
	if res.others, err = api.runningCount(ctx); err != nil {
		return nil, err
	}
	if res.machine, err = describeMachine(ctx, api); err != nil {
		return nil, err
	}

	logf("starting %d container nodes (run %s)", s.containers, s.runID)
	t0 := time.Now()
	cs, err := startContainers(ctx, s.containers, s.image, s.labels, s.cookie)
	if err != nil {
		return nil, err
	}
	logf("%d container nodes up in %v", len(cs), time.Since(t0).Round(time.Millisecond))

	// The three host nodes. The hosts file names every container.
	inetrc := filepath.Join(s.benchDir, "inetrc")
	var rc strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&rc, "{host, {%s}, [%q]}.\n", strings.ReplaceAll(c.IP, ".", ","), c.Hostname)
	}
	rc.WriteString("{lookup, [file, native]}.\n")
	if err := os.WriteFile(inetrc, []byte(rc.String()), 0o644); err != nil {
		return nil, err
	}
	common := func(name, epmdModule string) []string {
		return []string{"-pa", s.ebin, "-pa", s.benchDir, "-start_epmd", "false", "-epmd_module", epmdModule,
			"-sname", name + "_" + s.runID, "-hidden", "-setcookie", s.cookie, "-noshell", "-s", "epmd_docker_bench", "main"}
	}
	ed, err := startNode(ctx, "epmd_docker node", erlEnv(), common("bench_ed", "epmd_docker")...)
	if err != nil {
		return nil, err
	}
	defer ed.close()
	if got, err := ed.eval(ctx, "epmd_docker_helper:request(ping)", 30*time.Second); err != nil {
		return nil, err
	} else if !strings.HasPrefix(got, "{pong,") {
		return nil, fmt.Errorf("the epmd_docker helper does not answer a ping (%s): nothing to measure\n%s", got, ed.output())
	}
	hf, err := startNode(ctx, "hosts-file node", erlEnv("ERL_INETRC="+inetrc), common("bench_hf", "bench_hosts_file_epmd")...)
	if err != nil {
		return nil, err
	}
	defer hf.close()
	sh, err := startNode(ctx, "shell-out node", erlEnv(), common("bench_sh", "bench_docker_inspect_epmd")...)
	if err != nil {
		return nil, err
	}
	defer sh.close()

	long := 5 * time.Minute
	host := cs[0].Hostname
	var entries []string
	for _, c := range cs {
		entries = append(entries, fmt.Sprintf("{%q,{%s}}", c.Hostname, strings.ReplaceAll(c.IP, ".", ",")))
	}
	ets := "[" + strings.Join(entries, ",") + "]"
	// Misses: every lookup a name the helper has not answered before. ID
	// prefixes longer than the hostname are unique and answered from the
	// container set; names of no container need a round.
	var prefixes []string
	for n := 13; n <= 64 && len(prefixes) < cnt.blocks*cnt.setMiss; n++ {
		for _, c := range cs {
			prefixes = append(prefixes, c.ID[:n])
		}
	}
	if len(prefixes) < cnt.blocks*cnt.setMiss {
		return nil, fmt.Errorf("only %d distinct names for %d misses", len(prefixes), cnt.blocks*cnt.setMiss)
	}
	var nowhere []string
	for i := range cnt.blocks * cnt.roundMiss {
		nowhere = append(nowhere, fmt.Sprintf("nosuch-%s-%d", s.runID, i))
	}

	logf("1, 2: lookups, warm and cold, with their baselines (%d blocks)", cnt.blocks)
	for b := range cnt.blocks {
		steps := []struct {
			into *series
			n    *node
			expr string
		}{
			{&res.warm, ed, fmt.Sprintf("epmd_docker_bench:address_please(epmd_docker, %q, inet, %d)", host, cnt.warm)},
			{&res.shellout, sh, fmt.Sprintf("epmd_docker_bench:address_please(bench_docker_inspect_epmd, %q, inet, %d)", host, cnt.shell)},
			{&res.hostsFile, hf, fmt.Sprintf("epmd_docker_bench:getaddr(%q, %d)", host, cnt.warm)},
			{&res.floor, ed, fmt.Sprintf("epmd_docker_bench:ets_floor(%s, %d)", ets, cnt.floor)},
			{&res.ping, ed, fmt.Sprintf("epmd_docker_bench:ping(%d)", cnt.warm)},
			{&res.echo, ed, fmt.Sprintf("epmd_docker_bench:port_echo(%d)", cnt.warm)},
			{&res.spaced, ed, fmt.Sprintf("epmd_docker_bench:address_please_spaced(epmd_docker, %q, inet, %d, 10)", host, cnt.spaced)},
			{&res.setMiss, ed, fmt.Sprintf("epmd_docker_bench:address_please_each(epmd_docker, %s, inet)",
				erlStrings(prefixes[b*cnt.setMiss:(b+1)*cnt.setMiss]))},
			{&res.roundMiss, ed, fmt.Sprintf("epmd_docker_bench:resolve_each(%s)",
				erlStrings(nowhere[b*cnt.roundMiss:(b+1)*cnt.roundMiss]))},
		}
		for _, st := range steps {
			ds, err := st.n.timings(ctx, st.expr, long)
			if err != nil {
				return nil, err
			}
			*st.into = st.into.add(ds)
		}
		ds, err := api.time(ctx, cnt.rawInspect, func(i int) string { return "/containers/" + cs[i%len(cs)].ID + "/json" })
		if err != nil {
			return nil, err
		}
		res.rawInspect = res.rawInspect.add(ds)
		if ds, err = api.time(ctx, cnt.rawList, func(int) string { return "/containers/json" }); err != nil {
			return nil, err
		}
		res.rawList = res.rawList.add(ds)
		for range max(cnt.rawList/10, 2) {
			d, err := api.round(ctx, 8)
			if err != nil {
				return nil, err
			}
			res.rawRound = res.rawRound.add([]time.Duration{d})
		}
	}

	logf("3: connect_node/1 to one container node, in %d blocks", 4)
	target := cs[len(cs)/2].Node
	for range 4 {
		for _, st := range []struct {
			into *series
			n    *node
			k    int
		}{{&res.connDocker, ed, cnt.connect}, {&res.connHosts, hf, cnt.connect}, {&res.connShell, sh, cnt.connectShell}} {
			ds, err := st.n.timings(ctx, fmt.Sprintf("epmd_docker_bench:connect('%s', %d)", target, st.k), long)
			if err != nil {
				return nil, err
			}
			*st.into = st.into.add(ds)
		}
	}

	logf("5: connecting to 1, 10 and %d nodes, one after the other and all at once", len(cs))
	for _, k := range slices.Compact([]int{1, 10, len(cs)}) {
		var nodes []string
		for _, c := range cs[:k] {
			nodes = append(nodes, c.Node)
		}
		for _, mode := range []string{"seq", "par"} {
			// One repetition of each in turn, so that a burst of load
			// elsewhere lands on both sides alike.
			runs := []clusterRun{{nodes: k, mode: mode, who: "epmd_docker"}, {nodes: k, mode: mode, who: "hosts file"}}
			for range cnt.clusterReps {
				for i, n := range []*node{ed, hf} {
					ds, err := n.timings(ctx, fmt.Sprintf("epmd_docker_bench:cluster(%s, %s, 1)", erlAtoms(nodes), mode), long)
					if err != nil {
						return nil, err
					}
					runs[i].t = runs[i].t.add(ds)
				}
			}
			res.cluster = append(res.cluster, runs...)
		}
	}
	// Leave every connection closed for what follows.
	for _, n := range []*node{ed, hf} {
		if _, err := n.eval(ctx, "[erlang:disconnect_node(N) || N <- nodes(connected)]", time.Minute); err != nil {
			return nil, err
		}
	}

	logf("6: the helper, at rest for %v and under load for %v", cnt.rest, cnt.load)
	if err := helperUsage(ctx, ed, cs, cnt, res); err != nil {
		return nil, err
	}

	logf("4: erl start-up, %d times each way", cnt.startups)
	if err := startups(ctx, s, cs[0].Hostname, cnt.startups, res); err != nil {
		return nil, err
	}

	logf("7: from docker stop to the name no longer resolving in the node, %d times", cnt.gone)
	victims, err := startSleepers(ctx, cnt.gone, s.image, s.labels, "bench-"+s.runID+"-gone")
	if err != nil {
		return nil, err
	}
	for _, v := range victims {
		ds, err := ed.timings(ctx, fmt.Sprintf("epmd_docker_bench:until_gone(%q, %q, 10000)", v.ID, v.Name), time.Minute)
		if err != nil {
			return nil, err
		}
		res.gone = res.gone.add(ds)
	}

	logf("8: %d lookups at once, both cores busy", cnt.burst)
	if err := burst(ctx, ed, cs, cnt.burst, res); err != nil {
		return nil, err
	}

	logf("9: %d more running containers (plain sleeping ones)", cnt.sleepers)
	if err := scale(ctx, s, ed, cs, cnt, res); err != nil {
		return nil, err
	}

	logf("10: a Kubernetes pod through port-forwards")
	if err := kubeBench(ctx, s, func(name string) []string { return common(name, "epmd_docker") }, cnt, res); err != nil {
		// Said in the table, in place of its rows: the rest stands.
		res.kubeSkipped = "failed: " + shorten(strings.ReplaceAll(err.Error(), "\n", " "), 200)
	}
	if res.kubeSkipped != "" {
		logf("10: skipped: %s", res.kubeSkipped)
	}
	return res, nil
}

// burst times n lookups started at once in the epmd_docker node, of the
// hostnames and unique ID prefixes of cs, while two busy loops keep both
// cores of the machine busy.
func burst(ctx context.Context, ed *node, cs []container, n int, res *results) error {
	var pairs []string
	for l := 12; l <= 64; l += 4 {
		for _, c := range cs {
			name := c.ID[:l]
			if l == 12 {
				name = c.Hostname
			}
			pairs = append(pairs, fmt.Sprintf("{%q,{%s}}", name, strings.ReplaceAll(c.IP, ".", ",")))
		}
	}
	for range 2 {
		busy := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
		if err := busy.Start(); err != nil {
			return err
		}
		defer func() { _ = busy.Process.Kill(); _ = busy.Wait() }()
	}
	got, err := ed.eval(ctx, fmt.Sprintf("epmd_docker_bench:burst([%s], %d)", strings.Join(pairs, ","), n), 5*time.Minute)
	if err != nil {
		return err
	}
	i := strings.LastIndex(got, ",")
	if i < 0 {
		return fmt.Errorf("burst: the node answered %s", shorten(got, 300))
	}
	if _, err := fmt.Sscanf(got[i:], ",%d}", &res.burstWrong); err != nil {
		return fmt.Errorf("burst: the node answered %s", shorten(got, 300))
	}
	ds, err := parseNanos(got[:i] + "}")
	if err != nil {
		return err
	}
	res.burst, res.burstN = newSeries(ds), n
	return nil
}

// scale adds cnt.sleepers running containers and measures what grows with
// their number: a raw container list, a lookup that lists (the first also
// inspects every new container), `epmd-docker ls`, and the helper's memory.
func scale(ctx context.Context, s *settings, ed *node, cs []container, cnt counts, res *results) error {
	if _, err := startSleepers(ctx, cnt.sleepers, s.image, s.labels, "bench-"+s.runID+"-idle"); err != nil {
		return err
	}
	api, err := newRawAPI(ctx)
	if err != nil {
		return err
	}
	if res.scaleContainers, err = api.runningCount(ctx); err != nil {
		return err
	}
	if res.scaleList, err = api.time(ctx, max(cnt.rawList, 5), func(int) string { return "/containers/json" }); err != nil {
		return err
	}
	var nowhere []string
	for i := range max(cnt.roundMiss, 5) {
		nowhere = append(nowhere, fmt.Sprintf("nosuch-%s-scale-%d", s.runID, i))
	}
	ds, err := ed.timings(ctx, fmt.Sprintf("epmd_docker_bench:resolve_each(%s)", erlStrings(nowhere)), 5*time.Minute)
	if err != nil {
		return err
	}
	res.scaleMiss = newSeries(ds)
	for range cnt.lsReps {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		cmd := exec.CommandContext(cctx, filepath.Join(s.root, "priv", "epmd-docker"), "ls")
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(t0)
		cancel()
		if err != nil {
			return fmt.Errorf("epmd-docker ls: %v\n%s", err, shorten(string(out), 500))
		}
		res.scaleLs = res.scaleLs.add([]time.Duration{d})
	}
	got, err := ed.eval(ctx, "epmd_docker_bench:helper_pid()", time.Minute)
	if err != nil {
		return err
	}
	var pid int
	if _, err := fmt.Sscanf(got, "{ok,%d}", &pid); err != nil {
		return fmt.Errorf("helper's process id: the node answered %s", got)
	}
	res.scaleRSS, res.scaleHWM, err = procMem(pid)
	return err
}

// helperUsage measures the epmd_docker node's helper process, idle and
// then busy.
func helperUsage(ctx context.Context, ed *node, cs []container, cnt counts, res *results) error {
	got, err := ed.eval(ctx, "epmd_docker_bench:helper_pid()", time.Minute)
	if err != nil {
		return err
	}
	pidText, ok := strings.CutPrefix(got, "{ok,")
	pid, err := strconv.Atoi(strings.TrimSuffix(pidText, "}"))
	if !ok || err != nil {
		return fmt.Errorf("helper's process id: the node answered %s", got)
	}

	stop := make(chan struct{})
	time.AfterFunc(cnt.rest, func() { close(stop) })
	if res.rest, err = watchProc(pid, stop); err != nil {
		return err
	}

	// Warm lookups of every container, and a cold one now and then: a
	// busy admin node, far busier than any real one.
	var hosts []string
	for _, c := range cs {
		hosts = append(hosts, c.Hostname)
	}
	stop = make(chan struct{})
	type answer struct {
		u   usage
		err error
	}
	done := make(chan answer, 1)
	go func() { u, err := watchProc(pid, stop); done <- answer{u, err} }()
	t0 := time.Now()
	got, err = ed.eval(ctx, fmt.Sprintf("epmd_docker_bench:load(%s, %d, %d)", erlStrings(hosts), cnt.loadProcs, cnt.load.Milliseconds()), cnt.load+time.Minute)
	close(stop)
	res.loadSeconds = time.Since(t0).Seconds()
	a := <-done
	if err != nil {
		return err
	}
	if a.err != nil {
		return a.err
	}
	res.load = a.u
	if _, err := fmt.Sscanf(got, "{ok,%d,%d}", &res.loadOK, &res.loadBad); err != nil {
		return fmt.Errorf("load: the node answered %s", got)
	}
	return nil
}

// startups times erl from exec to exit: a plain named node (with its own
// epmd, on a port of its own), the same with -epmd_module epmd_docker, and
// the latter until its first container lookup is answered. The three are
// run in turn.
func startups(ctx context.Context, s *settings, host string, n int, res *results) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	epmd := exec.Command("epmd", "-port", strconv.Itoa(port))
	if err := epmd.Start(); err != nil {
		return fmt.Errorf("starting an epmd for the plain nodes: %w", err)
	}
	defer func() { _ = epmd.Process.Kill(); _ = epmd.Wait() }()
	// The epmd answers once it listens.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("epmd", "-port", strconv.Itoa(port), "-names").CombinedOutput()
		if err == nil && strings.Contains(string(out), "up and running") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the epmd on port %d did not come up: %s", port, out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Output goes to a file, not a pipe: the helper inherits erl's
	// stderr, and a pipe would make the wait last until the helper too
	// has exited, which erl itself does not wait for.
	outFile := filepath.Join(s.benchDir, "erl.out")
	timeErl := func(env []string, args ...string) (time.Duration, string, error) {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		f, err := os.Create(outFile)
		if err != nil {
			return 0, "", err
		}
		defer f.Close()
		cmd := exec.CommandContext(cctx, "erl", args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = f, f
		t0 := time.Now()
		err = cmd.Run()
		d := time.Since(t0)
		out, _ := os.ReadFile(outFile)
		if err != nil {
			return 0, "", fmt.Errorf("erl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return d, string(out), nil
	}
	halt := []string{"-noshell", "-eval", "erlang:halt(0)"}
	// One of each first, untimed: the page cache then holds erl and the
	// helper for every timed start alike.
	for i := -1; i < n; i++ {
		id := fmt.Sprintf("%s_%d", s.runID, i+1)
		plain, _, err := timeErl(erlEnv("ERL_EPMD_PORT="+strconv.Itoa(port)),
			append([]string{"-sname", "plain_" + id, "-setcookie", s.cookie}, halt...)...)
		if err != nil {
			return err
		}
		withED, _, err := timeErl(erlEnv(),
			append([]string{"-pa", s.ebin, "-start_epmd", "false", "-epmd_module", "epmd_docker", "-sname", "ed_" + id, "-setcookie", s.cookie}, halt...)...)
		if err != nil {
			return err
		}
		first, out, err := timeErl(erlEnv(), "-pa", s.ebin, "-pa", s.benchDir, "-start_epmd", "false", "-epmd_module", "epmd_docker",
			"-sname", "first_"+id, "-setcookie", s.cookie, "-noshell", "-eval", fmt.Sprintf("epmd_docker_bench:first_lookup(%q)", host))
		if err != nil {
			return err
		}
		var inNode int64
		at := strings.Index(out, "@@FIRST ")
		if at < 0 {
			return errors.New("first lookup in a new node: no answer: " + shorten(out, 500))
		}
		if _, err := fmt.Sscanf(out[at:], "@@FIRST %d", &inNode); err != nil {
			// Counted and reported, not fatal: a failure is a
			// result too.
			fmt.Fprintf(os.Stderr, "bench: first lookup in a new node failed: %s\n", shorten(out, 500))
			res.firstFailed++
			inNode = -1
		}
		if i < 0 {
			continue
		}
		res.startPlain = res.startPlain.add([]time.Duration{plain})
		res.startDocker = res.startDocker.add([]time.Duration{withED})
		if inNode >= 0 {
			res.startFirst = res.startFirst.add([]time.Duration{first})
			res.first = res.first.add([]time.Duration{time.Duration(inNode)})
		}
	}
	return nil
}
