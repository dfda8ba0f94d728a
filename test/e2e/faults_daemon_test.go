package e2e

// The Docker daemon stopping, pausing and coming back, on a private dockerd
// of the test's own.

import (
	"bytes"
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
