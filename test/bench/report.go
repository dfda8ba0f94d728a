package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// machine names what the run ran on.
type machine struct {
	cpu, kernel, memory string
	cores               int
	docker, dockerCLI   string
	otp, goVersion      string
	loadStart, loadEnd  string
	date                string
}

func describeMachine(ctx context.Context, api *rawAPI) (machine, error) {
	m := machine{cores: runtime.NumCPU(), goVersion: runtime.Version(), date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if m.cpu == "" {
		m.cpu = runtime.GOARCH
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	m.loadStart = loadAvg()
	var err error
	if m.docker, err = api.serverVersion(ctx); err != nil {
		return m, err
	}
	if out, err := dockerCLI(ctx, 30*time.Second, "version", "--format", "{{.Client.Version}}"); err == nil {
		m.dockerCLI = out
	}
	out, err := exec.CommandContext(ctx, "erl", "-noshell", "-eval",
		`R = erlang:system_info(otp_release),
		 V = case file:read_file(filename:join([code:root_dir(), "releases", R, "OTP_VERSION"])) of
		         {ok, B} -> string:trim(B);
		         _ -> R
		     end,
		 io:format("~s (erts ~s)", [V, erlang:system_info(version)]),
		 halt().`).Output()
	if err != nil {
		return m, fmt.Errorf("asking erl its version: %v", err)
	}
	m.otp = string(out)
	return m, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// The targets of issue 11, each a comparison within the run.
const (
	targetWarmRatio  = 3.0  // warm address_please/3 against the hosts file
	targetConnect    = 10.0 // percent over the hosts file, one connection
	targetParallel   = 5.0  // percent over the hosts file, all nodes at once
	targetBoot       = 5 * time.Millisecond
	targetBootLookup = 20 * time.Millisecond
	targetGoneP99    = 50 * time.Millisecond
)

// report renders the header, the table and the verdict on each aim.
func report(r *results) string {
	r.machine.loadEnd = loadAvg()
	var b strings.Builder
	m := r.machine
	fmt.Fprintf(&b, "Measured %s by `make bench`", m.date)
	if r.quick {
		b.WriteString(" **-quick** (a tenth of the iterations: not for quoting)")
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s RAM; %s\n", m.cpu, m.cores, m.memory, m.kernel)
	fmt.Fprintf(&b, "- Docker Engine %s, docker CLI %s; Erlang/OTP %s; %s\n", m.docker, m.dockerCLI, m.otp, m.goVersion)
	fmt.Fprintf(&b, "- Running containers: %d container nodes of the bench, %d others; load average %s at the start, %s at the end\n\n",
		r.containers, r.others, m.loadStart, m.loadEnd)

	b.WriteString("| # | Measurement | n | Median | p99 | Compared (medians) |\n")
	b.WriteString("|---|---|--:|--:|--:|---|\n")
	row := func(id, what string, s series, cmp string) {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s |\n", id, what, len(s), human(s.median()), human(s.p99()), cmp)
	}
	n := r.containers

	row("1a", "Warm `address_please/3` through epmd_docker: the port owner's table, read in the calling process", r.warm,
		times(r.warm.median(), r.shellout.median(), "1b")+"; "+times(r.warm.median(), r.hostsFile.median(), "1c")+"; "+
			times(r.warm.median(), r.echo.median(), "1e"))
	row("1b", "Baseline: `address_please/3` forking `docker inspect` per lookup (`os:cmd/1`)", r.shellout, "")
	row("1c", "Baseline: `inet:getaddr/2` of a name in an `ERL_INETRC` hosts file", r.hostsFile, "")
	row("1d", "Floor: `ets:lookup/2` (clock reads included)", r.floor, "")
	row("1e", "Port floor: a `{packet,4}` frame echoed by `cat`, from the calling process", r.echo, "")
	row("1f", "epmd_docker helper `ping`: port owner, port and helper, no lookup", r.ping,
		times(r.ping.median(), r.echo.median(), "1e"))
	row("1g", "As 1a, one lookup every 10 ms (the helper idle in between, as in a connection setup)", r.spaced,
		times(r.spaced.median(), r.warm.median(), "1a"))
	row("2a", "Cold `address_please/3`: a name not asked before, matched in the helper's container set", r.setMiss,
		times(r.setMiss.median(), r.rawInspect.median(), "2d"))
	row("2b", fmt.Sprintf("Cold miss that lists: `epmd_docker:resolve/1` of a name no container has (one list of %d+ containers)", n), r.roundMiss,
		times(r.roundMiss.median(), r.rawList.median(), "2e"))
	row("2c", fmt.Sprintf("First lookup in a node just started, timed in the node (the helper run by that lookup: its start, a list and %d+ inspects)", n), r.first, "")
	row("2d", "One Docker API inspect, raw HTTP on the unix socket (Go)", r.rawInspect, "")
	row("2e", fmt.Sprintf("One Docker API container list, %d+ running, raw (Go)", n), r.rawList, "")
	row("2f", fmt.Sprintf("What a first lookup asks of Docker: one list of %d+ containers, then an inspect of each, 8 at a time, raw (Go)", n), r.rawRound, "")
	row("3a", "`net_kernel:connect_node/1` to a container node, epmd_docker (then disconnect)", r.connDocker,
		pctOver(r.connDocker.median(), r.connHosts.median(), "3b"))
	row("3b", "Same node, `ERL_INETRC` hosts file", r.connHosts, "")
	row("3c", "Same node, shell-out module of 1b", r.connShell, pctOver(r.connShell.median(), r.connHosts.median(), "3b"))
	row("4a", "`erl -sname … -eval 'halt()'`: plain named node, exec to exit", r.startPlain, "")
	row("4b", "Same with `-epmd_module epmd_docker` (the helper is not run: no lookup)", r.startDocker, msOver(r.startDocker.median(), r.startPlain.median(), "4a"))
	row("4c", "Same, halting after its first container lookup", r.startFirst, msOver(r.startFirst.median(), r.startPlain.median(), "4a"))
	ids := "abcdefghijkl"
	for i, c := range r.cluster {
		mode := "one after the other"
		if c.mode == "par" {
			mode = "all at once"
		}
		cmp := ""
		if i%2 == 0 && i+1 < len(r.cluster) {
			cmp = pctOver(c.t.median(), r.cluster[i+1].t.median(), fmt.Sprintf("5%c", ids[i+1]))
		}
		row(fmt.Sprintf("5%c", ids[i%len(ids)]), fmt.Sprintf("Connect to %d container node%s, %s: %s", c.nodes, plural(c.nodes), mode, c.who), c.t, cmp)
	}
	fmt.Fprintf(&b, "| 6a | Helper at rest, %v idle, %d+ containers | | RSS %s | peak %s | CPU %.2f %% of a core |\n",
		r.restDuration(), n, mb(r.rest.rss), mb(r.rest.hwm), r.rest.cpu)
	fmt.Fprintf(&b, "| 6b | Helper under load: 4 processes looking up all %d hostnames for %.0f s | %d | RSS %s | peak %s | CPU %.0f %% of a core; %.0f lookups/s |\n",
		n, r.loadSeconds, r.loadOK+r.loadBad, mb(r.load.rss), mb(r.load.hwm), r.load.cpu, float64(r.loadOK)/r.loadSeconds)
	row("7a", "A Docker event's way into the table: from `docker stop` returning until `epmd_docker:resolve/1` says not_found", r.gone, "")
	row("8a", fmt.Sprintf("%d `address_please/3` at once (hostnames and ID prefixes), both cores busy: correct answers", r.burstN), r.burst,
		fmt.Sprintf("%d of %d wrong or failed", r.burstWrong, r.burstN))
	row("9a", fmt.Sprintf("Scale: one Docker API container list, %d running (%d of them nodes), raw (Go)", r.scaleContainers, n), r.scaleList, "")
	row("9b", fmt.Sprintf("Scale: a miss that lists %d containers (the first also inspects the new ones)", r.scaleContainers), r.scaleMiss, "")
	row("9c", fmt.Sprintf("Scale: `epmd-docker ls` with %d running containers, exec to exit", r.scaleContainers), r.scaleLs, "")
	fmt.Fprintf(&b, "| 9d | Scale: helper memory with %d running containers | | RSS %s | peak %s | |\n", r.scaleContainers, mb(r.scaleRSS), mb(r.scaleHWM))
	if r.kubeSkipped == "" {
		row("10a", "Warm `address_please/3` of a Kubernetes pod name (`web-0`, reached through a port-forward): the port owner's table", r.kubeWarm,
			times(r.kubeWarm.median(), r.warm.median(), "1a"))
		reused := ""
		if r.kubeReused > 0 {
			reused = fmt.Sprintf("; %d of %d found the last forward still open", r.kubeReused, len(r.kubeNew))
		}
		row("10b", "`connect_node/1` to the pod's node through a new port-forward (the last one closed when idle; the port named `erlang-dist`)", r.kubeNew,
			pctOver(r.kubeNew.median(), r.kubeOpen.median(), "10c")+reused)
		row("10c", "`connect_node/1` to the pod's node through an open port-forward", r.kubeOpen,
			pctOver(r.kubeOpen.median(), r.connDocker.median(), "3a"))
	} else {
		fmt.Fprintf(&b, "| 10 | Kubernetes pod rows: not measured (%s) | | | | |\n", r.kubeSkipped)
	}
	if r.firstFailed > 0 {
		fmt.Fprintf(&b, "\n%d first lookups in a new node (2c, 4c) failed and are not in the table.\n", r.firstFailed)
	}
	if r.loadBad > 0 {
		fmt.Fprintf(&b, "\n%d of the lookups under load failed.\n", r.loadBad)
	}

	b.WriteString("\nTargets (issue 11), each a comparison within this run:\n\n")
	b.WriteString("| Target | Measured | Result |\n|---|---|---|\n")
	target := func(what, measured string, met bool) {
		verdict := "**pass**"
		if !met {
			verdict = "**fail**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", what, measured, verdict)
	}
	ratio := float64(r.warm.median()) / float64(r.hostsFile.median())
	target(fmt.Sprintf("warm `address_please/3` at most %.0f× a hosts-file lookup", targetWarmRatio),
		fmt.Sprintf("%.2f× (1a %s, 1c %s)", ratio, human(r.warm.median()), human(r.hostsFile.median())), ratio <= targetWarmRatio)
	over := pct(r.connDocker.median(), r.connHosts.median())
	target(fmt.Sprintf("`connect_node/1` at most +%.0f %% over the hosts file", targetConnect),
		fmt.Sprintf("%+.1f %% (3a %s, 3b %s)", over, human(r.connDocker.median()), human(r.connHosts.median())), over <= targetConnect)
	var par, parHosts series
	for _, c := range r.cluster {
		if c.nodes == n && c.mode == "par" {
			if c.who == "epmd_docker" {
				par = c.t
			} else {
				parHosts = c.t
			}
		}
	}
	parOver := pct(par.median(), parHosts.median())
	target(fmt.Sprintf("%d parallel connects at most +%.0f %%", n, targetParallel),
		fmt.Sprintf("%+.1f %% (%s against %s)", parOver, human(par.median()), human(parHosts.median())), parOver <= targetParallel)
	boot := r.startDocker.median() - r.startPlain.median()
	target(fmt.Sprintf("boot at most +%v", targetBoot), signed(boot)+" (4b − 4a)", boot <= targetBoot)
	first := r.startFirst.median() - r.startPlain.median()
	target(fmt.Sprintf("boot and first lookup at most +%v", targetBootLookup), signed(first)+" (4c − 4a)", first <= targetBootLookup)
	target(fmt.Sprintf("event to table at most %v p99", targetGoneP99), human(r.gone.p99())+" (7a)", len(r.gone) > 0 && r.gone.p99() <= targetGoneP99)
	target(fmt.Sprintf("%d lookups at once, both cores busy: every answer correct", r.burstN),
		fmt.Sprintf("%d wrong, p99 %s (8a)", r.burstWrong, human(r.burst.p99())), r.burstN > 0 && r.burstWrong == 0)
	return b.String()
}

// pct is how much longer d is than base, in percent.
func pct(d, base time.Duration) float64 {
	if base <= 0 {
		return 0
	}
	return 100 * (float64(d) - float64(base)) / float64(base)
}

func (r *results) restDuration() time.Duration {
	return countsFor(r.quick).rest
}

// pctOver says how much longer d is than base, in percent.
func pctOver(d, base time.Duration, baseID string) string {
	if base <= 0 {
		return ""
	}
	return fmt.Sprintf("%+.1f %% vs %s", 100*(float64(d)-float64(base))/float64(base), baseID)
}

// msOver says how much longer d is than base.
func msOver(d, base time.Duration, baseID string) string {
	return signed(d-base) + " vs " + baseID
}

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + human(-d)
	}
	return "+" + human(d)
}

func mb(b int64) string {
	return fmt.Sprintf("%.1f MB", float64(b)/1e6)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Markers of the part of BENCHMARKS.md that the bench writes.
const (
	beginMarker = "<!-- begin: written by make bench; edits here are overwritten -->"
	endMarker   = "<!-- end: written by make bench -->"
)

// writeReport puts table between the markers of file, creating the file
// if need be, and leaves the rest as it was.
func writeReport(file, table string) error {
	section := beginMarker + "\n" + table + endMarker
	old, err := os.ReadFile(file)
	switch {
	case os.IsNotExist(err):
		return os.WriteFile(file, []byte("# Benchmarks\n\n"+section+"\n"), 0o644)
	case err != nil:
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no generated-section markers; add these two lines where the table goes:\n%s\n%s", file, beginMarker, endMarker)
	}
	return os.WriteFile(file, []byte(s[:i]+section+s[j+len(endMarker):]), 0o644)
}
