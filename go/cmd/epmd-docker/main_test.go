package main

// The tests here run the real epmd-docker binary, built in TestMain into a
// temporary ROOT/priv/epmd-docker with epmd_docker's beams compiled into
// ROOT/ebin, as `make` lays them out, against real containers running real
// Erlang nodes. Every container carries the labels epmd-docker-test=1 and
// epmd-docker-cli=RUN, and is removed when its test ends, pass or fail, and
// again when the package ends. Without a Docker daemon and the test image
// (test/setup.sh), the tests that need them are skipped.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/dockertest"
	"github.com/epmd-docker/epmd_docker/go/internal/epmd"
)

var (
	root    string // temporary ROOT: ROOT/priv/epmd-docker, ROOT/ebin
	binary  string // ROOT/priv/epmd-docker
	haveErl bool   // ROOT/ebin holds epmd_docker's beams and erl runs
	image   string // the test image; "" when Docker or the image is missing
	runID   string
	noImage string // why image is ""
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	root, err = os.MkdirTemp("", "epmd-docker-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	binary = filepath.Join(root, "priv", "epmd-docker")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	haveErl = buildBeams() == nil

	runID = "cli-" + randHex(4)
	image = os.Getenv("EPMD_DOCKER_TEST_IMAGE")
	if image == "" {
		image = "epmd-docker-test:latest"
	}
	if out, err := exec.Command("docker", "image", "inspect", image).CombinedOutput(); err != nil {
		noImage = fmt.Sprintf("no docker or no test image %s (run test/setup.sh): %v %s", image, err, bytes.TrimSpace(out))
		image = ""
	}
	defer removeLabelled()
	return m.Run()
}

// buildBeams compiles erlang/src into ROOT/ebin, so that the Erlang side
// of the binary under test is this checkout's. EPMD_DOCKER_TEST_EBIN names
// a directory of beams to use instead, to test this side against a known
// good Erlang side while that one is being changed.
func buildBeams() error {
	if _, err := exec.LookPath("erl"); err != nil {
		return err
	}
	ebin := filepath.Join(root, "ebin")
	if err := os.MkdirAll(ebin, 0o755); err != nil {
		return err
	}
	if dir := os.Getenv("EPMD_DOCKER_TEST_EBIN"); dir != "" {
		beams, _ := filepath.Glob(filepath.Join(dir, "*.beam"))
		for _, b := range beams {
			data, err := os.ReadFile(b)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(ebin, filepath.Base(b)), data, 0o644); err != nil {
				return err
			}
		}
		if len(beams) == 0 {
			return fmt.Errorf("no beams in EPMD_DOCKER_TEST_EBIN=%s", dir)
		}
		return nil
	}
	src, err := filepath.Glob(filepath.Join("..", "..", "..", "erlang", "src", "*.erl"))
	if err != nil || len(src) == 0 {
		return fmt.Errorf("no Erlang sources: %v", err)
	}
	out, err := exec.Command("erlc", append([]string{"-o", ebin}, src...)...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "erlc (remsh and doctor tests that need the beams will skip): %v\n%s", err, out)
	}
	return err
}

func removeLabelled() {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=epmd-docker-cli="+runID).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// needDocker skips a test that needs containers when there can be none.
func needDocker(t testing.TB) {
	t.Helper()
	if image == "" {
		t.Skip(noImage)
	}
}

// needErl skips a test that needs erl and epmd_docker's beams.
func needErl(t testing.TB) {
	t.Helper()
	if !haveErl {
		t.Skip("erl or the epmd_docker beams are missing")
	}
}

// result is how a run of the binary ended.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args, env added to the environment.
func runCLI(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return runBinary(t, binary, env, args...)
}

// runBinary runs program bin with args, env added to the environment.
func runBinary(t testing.TB, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("epmd-docker %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// dockerCLI runs the docker CLI and returns its trimmed stdout.
func dockerCLI(t testing.TB, args ...string) string {
	t.Helper()
	return dockertest.CLI(t, args...)
}

// ctr is a container a test started.
type ctr struct {
	ID, Name, Hostname string
	Addr               netip.Addr
}

// start runs a labelled container from the test image, named
// edt-RUN-name, with the given docker run options and command, and
// removes it when the test ends.
func start(t testing.TB, name string, opts []string, cmd ...string) ctr {
	t.Helper()
	full := "edt-" + runID + "-" + name
	args := []string{"run", "-d", "--name", full, "--label", "epmd-docker-test=1", "--label", "epmd-docker-cli=" + runID, "-v", "/usr:/usr:ro"}
	args = append(append(args, opts...), image)
	id := dockerCLI(t, append(args, cmd...)...)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	info := dockerCLI(t, "inspect", "-f", "{{.Config.Hostname}} {{.NetworkSettings.IPAddress}}", id)
	host, ip, _ := strings.Cut(info, " ")
	c := ctr{ID: id, Name: full, Hostname: host}
	if a, err := netip.ParseAddr(ip); err == nil {
		c.Addr = a
	}
	return c
}

// erlNode is the command of a container running one node.
func erlNode(sname, cookie string, extra ...string) []string {
	return append([]string{"erl", "-sname", sname, "-setcookie", cookie, "-noshell", "-noinput"}, extra...)
}

// waitNodes waits until the epmd in c lists n nodes.
func waitNodes(t testing.TB, c ctr, n int) []epmd.Node {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		nodes, err := epmd.Names(ctx, netip.AddrPortFrom(c.Addr, epmd.DefaultPort))
		cancel()
		if err == nil && len(nodes) >= n {
			return nodes
		}
		if time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", c.ID).CombinedOutput()
			t.Fatalf("%s: %d nodes never registered (got %v, %v); logs:\n%s", c.Name, n, nodes, err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"resolve", "ls", "doctor", "remsh", "port"} {
		t.Run(cmd, func(t *testing.T) {
			for _, flag := range []string{"--help", "-h"} {
				r := runCLI(t, nil, cmd, flag)
				if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "Usage: epmd-docker "+cmd) {
					t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want usage and 0", cmd, flag, r.code, r.stdout, r.stderr)
				}
				if cmd != "port" && !strings.Contains(r.stdout, "Exit status") {
					t.Errorf("%s %s: help does not document the exit status", cmd, flag)
				}
			}
		})
	}
	r := runCLI(t, nil, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "Exit status") {
		t.Errorf("help: exit %d, %q", r.code, r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{},
		{"frobnicate"},
		{"resolve"},
		{"resolve", "a", "b"},
		{"resolve", "--bogus", "a"},
		{"ls", "extra"},
		{"doctor", "--json", "extra"},
		{"remsh"},
		{"remsh", "web", "--cookie", "a", "--cookie-from-container"},
		{"remsh", "@web"},
		{"ls", "--timeout", "0s"},
	}
	for _, args := range tests {
		r := runCLI(t, nil, args...)
		if r.code != exitUsage || r.stdout != "" || r.stderr == "" {
			t.Errorf("epmd-docker %s: exit %d, stdout %q, stderr %q; want 2, nothing, a message", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
}

// TestNoDaemon runs every command against a Docker socket that is not
// there: exit 3, and a message a person can act on.
func TestNoDaemon(t *testing.T) {
	env := []string{"DOCKER_HOST=unix:///nonexistent.sock"}
	for _, args := range [][]string{
		{"resolve", "web"},
		{"resolve", "--json", "web"},
		{"ls"},
		{"ls", "--json"},
		{"remsh", "web", "--cookie", "c"},
	} {
		if args[0] == "remsh" && !haveErl {
			continue // remsh finds erl and its library before Docker
		}
		r := runCLI(t, env, args...)
		if r.code != exitUnavailable || !strings.Contains(r.stderr, "cannot connect to the docker daemon at unix:///nonexistent.sock") {
			t.Errorf("%s: exit %d, stderr %q; want 3 and a message naming the socket", strings.Join(args, " "), r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%s: stdout %q, want nothing", strings.Join(args, " "), r.stdout)
		}
	}

	r := runCLI(t, env, "doctor")
	if r.code != exitUnavailable {
		t.Errorf("doctor: exit %d, want 3", r.code)
	}
	for _, want := range []string{"fail  docker reachable", "/nonexistent.sock does not exist", "skip  api version"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor: output lacks %q:\n%s", want, r.stdout)
		}
	}
}
