// Package e2e runs epmd_docker end to end: a real dockerd, real containers
// running Erlang nodes, a real erl on the host with -epmd_module epmd_docker,
// and the real helper binary behind its port.
//
// The tests expect `make all` to have built ebin/ and priv/epmd-docker and
// `test/setup.sh` to have started dockerd and built the test image; `make
// test` does both. Every container carries the label epmd-docker-test=RUNID
// and is removed when its test ends, pass or fail, and again when the
// package ends.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
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
)

var (
	root      string // the repository
	ebin      string // ebin/ of this repository (epmd_docker's beams)
	driverDir string // where e2e_driver.beam is compiled
	image     string
	runID     string
	cookie    string
	label     string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, _ := os.Getwd()
	root = filepath.Clean(filepath.Join(wd, "..", ".."))
	ebin = filepath.Join(root, "ebin")
	image = os.Getenv("EPMD_DOCKER_TEST_IMAGE")
	if image == "" {
		image = "epmd-docker-test:latest"
	}
	runID = "e2e-" + randHex(4)
	cookie = "cookie" + randHex(8)
	label = "epmd-docker-test=" + runID

	for _, p := range []string{filepath.Join(ebin, "epmd_docker.beam"), filepath.Join(root, "priv", "epmd-docker")} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s is missing: run `make all` first (make test does)\n", p)
			return 1
		}
	}
	if out, err := exec.Command("docker", "image", "inspect", image).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: test image %s is missing (%v): run test/setup.sh first\n%s", image, err, out)
		return 1
	}
	dir, err := os.MkdirTemp("", "epmd-docker-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	driverDir = dir
	if out, err := exec.Command("erlc", "-o", dir, filepath.Join(wd, "e2e_driver.erl")).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: compiling the driver: %v\n%s", err, out)
		return 1
	}
	defer removeLabelled()
	return m.Run()
}

// removeLabelled removes every container this run started, in case a test
// was killed before its own cleanup ran.
func removeLabelled() {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	ids := strings.Fields(string(out))
	if len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// docker runs the docker CLI and returns its trimmed stdout.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// Container is a running container with an Erlang node in it.
type Container struct {
	ID       string
	Hostname string
	Node     string // the name to dial, e.g. app@3f2a9c1b7d4e
}

// nodeSpec says how to start a container node.
type nodeSpec struct {
	DockerArgs []string // extra `docker run` options (--name, --hostname, --network ...)
	SName      string   // -sname argument; default "app"
	Extra      []string // extra erl arguments
}

// startNode starts a container running `erl -sname ...` and waits until its
// node is registered with the epmd inside the container.
func startNode(t testing.TB, spec nodeSpec) Container {
	t.Helper()
	return startNodeFrom(t, image, hostUsr(), spec)
}

// startNodeFrom is startNode with the image img and the `docker run`
// options runArgs (mounts) before spec's.
func startNodeFrom(t testing.TB, img string, runArgs []string, spec nodeSpec) Container {
	t.Helper()
	sname := spec.SName
	if sname == "" {
		sname = "app"
	}
	c := runContainer(t, img, append(append([]string{}, runArgs...), spec.DockerArgs...),
		append([]string{"erl", "-sname", sname, "-setcookie", cookie, "-noshell", "-noinput"}, spec.Extra...)...)
	name, host, found := strings.Cut(sname, "@")
	if !found {
		host = c.Hostname
	}
	c.Node = name + "@" + host
	waitRegistered(t, c.ID, name)
	return c
}

// hostUsr is the `docker run` options opts after a read-only mount of the
// host's /usr, where the test image finds its programs (erl among them).
func hostUsr(opts ...string) []string {
	return append([]string{"-v", "/usr:/usr:ro"}, opts...)
}

// runContainer starts a labelled container of img with the `docker run`
// options opts, running cmd, removed when the test ends. It returns the
// container with its ID and hostname; Node is for the caller to say.
func runContainer(t testing.TB, img string, opts []string, cmd ...string) Container {
	t.Helper()
	args := append([]string{"run", "-d", "--label", label}, opts...)
	id := docker(t, append(append(args, img), cmd...)...)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	return Container{ID: id, Hostname: docker(t, "inspect", "-f", "{{.Config.Hostname}}", id)}
}

// waitRegistered waits until the epmd inside the container knows the node.
func waitRegistered(t testing.TB, id, name string) {
	t.Helper()
	want := "name " + name + " at port"
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		out, _ := exec.Command("docker", "exec", id, "epmd", "-names").CombinedOutput()
		last = string(out)
		if strings.Contains(last, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
	t.Fatalf("node %s in container %.12s did not register with epmd: %s\ncontainer log:\n%s", name, id, last, logs)
}

func containerIP(t testing.TB, id string) string {
	t.Helper()
	return docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id)
}

// Admin is a hidden Erlang node on the host with -epmd_module epmd_docker,
// driven one expression at a time through e2e_driver.
type Admin struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	output []string // every line the node printed
	result map[int]chan string
	nextID int
	Name   string
}

// adminArgs are the erl flags that make a host node use epmd_docker.
func adminArgs(extra ...string) []string {
	args := []string{"-pa", ebin, "-start_epmd", "false", "-epmd_module", "epmd_docker", "-setcookie", cookie}
	return append(args, extra...)
}

// startAdmin starts an admin node. env entries (K=V) are added to its
// environment, for settings such as EPMD_DOCKER_TTL.
func startAdmin(t testing.TB, env []string, extra ...string) *Admin {
	t.Helper()
	return startAdminAs(t, nil, env, extra...)
}

// startAdminAs is startAdmin as another user (cred), when not nil.
func startAdminAs(t testing.TB, cred *syscall.Credential, env []string, extra ...string) *Admin {
	t.Helper()
	name := "admin" + randHex(3)
	args := adminArgs(append([]string{"-pa", driverDir, "-sname", name, "-hidden", "-noshell", "-s", "e2e_driver", "main"}, extra...)...)
	cmd := exec.Command("erl", args...)
	cmd.Env = append(os.Environ(), env...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return driveAdmin(t, cmd, name, 20*time.Second, "")
}

// driveAdmin starts cmd, an admin node named name running e2e_driver (erl
// on the host, or docker run of an image, named in where), and waits up to
// timeout for its first answer, which also proves distribution came up
// with our module.
func driveAdmin(t testing.TB, cmd *exec.Cmd, name string, timeout time.Duration, where string) *Admin {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", filepath.Base(cmd.Path), err)
	}
	a := &Admin{t: t, cmd: cmd, stdin: stdin, result: map[int]chan string{}, Name: name}
	go a.read(pr)
	go func() { _ = cmd.Wait(); pw.Close() }()
	t.Cleanup(a.Close)
	if got := strings.Trim(a.Eval("node()", timeout), "'"); !strings.HasPrefix(got, name+"@") {
		t.Fatalf("admin node did not start%s: node() = %s\noutput:\n%s", where, got, a.Output())
	}
	return a
}

var resultLine = regexp.MustCompile(`^@@RESULT (\d+) (.*)$`)

func (a *Admin) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		a.mu.Lock()
		a.output = append(a.output, line)
		if m := resultLine.FindStringSubmatch(line); m != nil {
			id, _ := strconv.Atoi(m[1])
			if ch, ok := a.result[id]; ok {
				ch <- m[2]
			}
		}
		a.mu.Unlock()
	}
}

// Eval evaluates one Erlang expression on the admin node and returns the
// result as printed by ~0tp. It fails the test if no answer comes in time.
func (a *Admin) Eval(expr string, timeout time.Duration) string {
	a.t.Helper()
	a.mu.Lock()
	a.nextID++
	id := a.nextID
	ch := make(chan string, 1)
	a.result[id] = ch
	a.mu.Unlock()
	if _, err := fmt.Fprintf(a.stdin, "%d %s.\n", id, expr); err != nil {
		a.t.Fatalf("admin node is gone: %v\noutput:\n%s", err, a.Output())
	}
	select {
	case got := <-ch:
		return got
	case <-time.After(timeout):
		a.t.Fatalf("no answer to %q within %v\noutput:\n%s", expr, timeout, a.Output())
		return ""
	}
}

// Output is everything the node printed so far.
func (a *Admin) Output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.output, "\n")
}

// Close stops the node.
func (a *Admin) Close() {
	_ = a.stdin.Close()
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = a.cmd.Process.Kill()
	}
}

// Connect runs net_kernel:connect_node/1 and reports the answer.
func (a *Admin) Connect(node string) string {
	a.t.Helper()
	return a.Eval(fmt.Sprintf("net_kernel:connect_node('%s')", node), 15*time.Second)
}

// RPCNode asks a remote node for its own name; "'node'" when it works.
func (a *Admin) RPCNode(node string) string {
	a.t.Helper()
	return a.Eval(fmt.Sprintf("rpc:call('%s', erlang, node, [], 10000)", node), 15*time.Second)
}

var bareAtom = regexp.MustCompile(`^[a-z][a-zA-Z0-9_@]*$`)

// atom is how ~p prints an atom: bare when it can be, else in single quotes.
func atom(s string) string {
	if bareAtom.MatchString(s) {
		return s
	}
	return "'" + s + "'"
}

// helperOSPid is the OS process ID of the admin node's helper.
func helperOSPid(t *testing.T, a *Admin) int {
	t.Helper()
	// A ping runs the helper if nothing has yet: the owner runs it at the
	// first request.
	got := waitEval(t, a, "begin _ = epmd_docker_helper:request(ping), maps:get(os_pid, epmd_docker_helper:status(epmd_docker_helper)) end", 10*time.Second,
		func(s string) bool { _, err := strconv.Atoi(s); return err == nil })
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
	return runContainer(t, image, hostUsr(args...), "sleep", "3600").ID
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

// matchingLines are the lines of out that contain sub.
func matchingLines(out, sub string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, sub) {
			lines = append(lines, l)
		}
	}
	return lines
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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

// startTerminal runs cmdline in a new tmux session, as in a person's
// terminal, and returns the session, killed when the test ends. tmux runs
// cmdline with its shell (see shellJoin); one argument more makes it a
// program and its arguments.
func startTerminal(t testing.TB, prefix string, cmdline ...string) string {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (make test installs it)")
	}
	session := prefix + randHex(3)
	args := append([]string{"new-session", "-d", "-s", session, "-x", "200", "-y", "50"}, cmdline...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() })
	return session
}

// remshInTerminal runs cmdline, a remote shell into node, in a terminal
// (startTerminal), waits up to timeout for node's prompt, and checks, by
// typing into it, that it evaluates on node, of OTP release.
func remshInTerminal(t testing.TB, prefix, cmdline, node string, release int, timeout time.Duration) {
	t.Helper()
	session := startTerminal(t, prefix, cmdline)
	waitScreen(t, session, "("+node+")1>", timeout)
	typeLine(t, session, "{node(), erlang:system_info(otp_release), 6*7}.")
	waitScreen(t, session, "{"+atom(node)+",\""+strconv.Itoa(release)+"\",42}", 15*time.Second)
}

// waitScreen waits until the tmux pane shows want.
func waitScreen(t testing.TB, session, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var screen string
	for time.Now().Before(deadline) {
		out, _ := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		screen = string(out)
		if strings.Contains(screen, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("terminal did not show %q within %v; screen:\n%s", want, timeout, screen)
}

func typeLine(t testing.TB, session, line string) {
	t.Helper()
	if out, err := exec.Command("tmux", "send-keys", "-t", session, "-l", line).CombinedOutput(); err != nil {
		t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
	if out, err := exec.Command("tmux", "send-keys", "-t", session, "Enter").CombinedOutput(); err != nil {
		t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
}

// shellJoin quotes arguments for the shell tmux runs the command with.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
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

// testNetwork creates the bridge network name on a subnet of its own (a
// free 10.231.N.0/24), with REJECT rules for it on the default route's
// interface (rejectOffMachine), all removed when the test ends, and
// returns the subnet.
func testNetwork(t *testing.T, name string, more ...string) string {
	t.Helper()
	for range 20 {
		n, _ := strconv.ParseUint(randHex(1), 16, 8)
		subnet := fmt.Sprintf("10.231.%d.0/24", n)
		args := append([]string{"network", "create", "--label", label, "--subnet", subnet}, more...)
		out, err := exec.Command("docker", append(args, name)...).CombinedOutput()
		if err == nil {
			t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", name).Run() })
			rejectOffMachine(t, subnet)
			return subnet
		}
		if !strings.Contains(string(out), "overlap") {
			t.Fatalf("docker network create: %v: %s", err, out)
		}
	}
	t.Fatal("no free 10.231.N.0/24 subnet for the test network")
	return ""
}
