package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/epmd"
)

// doctorAnswer is doctor --json's answer.
type doctorAnswer struct {
	OK     bool    `json:"ok"`
	Checks []check `json:"checks"`
}

func doctorJSON(t *testing.T, bin string, env []string) (map[string]check, result) {
	t.Helper()
	// No cluster: the Kubernetes checks are one line, skipped.
	env = append(env[:len(env):len(env)], "KUBECONFIG="+filepath.Join(t.TempDir(), "no-kubeconfig"))
	r := runBinary(t, bin, env, "doctor", "--json")
	var ans doctorAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil {
		t.Fatalf("doctor --json: exit %d, %v, stderr %q:\n%s", r.code, err, r.stderr, r.stdout)
	}
	byName := map[string]check{}
	failed := false
	for _, c := range ans.Checks {
		byName[c.Name] = c
		failed = failed || c.Status == statusFail
		if c.Status == statusFail && c.Fix == "" && c.Name != "docker reachable" {
			t.Errorf("check %s failed without saying what to do: %+v", c.Name, c)
		}
	}
	if len(ans.Checks) != 9 {
		t.Errorf("doctor: %d checks, want 9: %+v", len(ans.Checks), ans.Checks)
	}
	if k := byName["kubernetes"]; k.Status != statusSkip {
		t.Errorf("doctor without a kubeconfig: kubernetes check %+v, want skipped", k)
	}
	if ans.OK == failed || failed != (r.code != 0) {
		t.Errorf("doctor: ok %v, a check failed %v, exit %d: inconsistent", ans.OK, failed, r.code)
	}
	return byName, r
}

func wantCheck(t *testing.T, checks map[string]check, name, status, detail string) {
	t.Helper()
	c := checks[name]
	if c.Status != status || !strings.Contains(c.Detail+" "+c.Fix, detail) {
		t.Errorf("check %s: got %s %q (fix %q); want %s and %q", name, c.Status, c.Detail, c.Fix, status, detail)
	}
}

func TestDoctor(t *testing.T) {
	needDocker(t)
	needErl(t)
	c := start(t, "doc", nil, erlNode("app", "c")...)
	waitNodes(t, c, 1)

	checks, _ := doctorJSON(t, binary, nil)
	wantCheck(t, checks, "docker reachable", statusOK, "answers")
	wantCheck(t, checks, "api version", statusOK, "negotiated")
	wantCheck(t, checks, "daemon kind", statusOK, "local daemon")
	wantCheck(t, checks, "container addresses", statusOK, "reachable")
	wantCheck(t, checks, "reached via", statusOK, "local daemon")

	// Forced published mode: the container publishes nothing.
	checks, _ = doctorJSON(t, binary, []string{"EPMD_DOCKER_MODE=published"})
	wantCheck(t, checks, "reached via", statusWarn, "-p 127.0.0.1::9100")
	if e := checks["epmd in containers"]; e.Status == statusOK && !strings.Contains(e.Detail, "app@"+c.Hostname) && !strings.Contains(e.Detail, "more") {
		t.Errorf("epmd in containers: %q does not name app@%s", e.Detail, c.Hostname)
	}
	wantCheck(t, checks, "erl", statusOK, "OTP ")
	wantCheck(t, checks, "erlang library", statusOK, "ebin "+filepath.Join(root, "ebin"))

	// The plain table says the same.
	r := runCLI(t, nil, "doctor")
	for _, want := range []string{`(?m)^ok +docker reachable +unix://`, `(?m)^ok +erl +/`, `(?m)^ok +erlang library +ebin `} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("doctor: no line %s:\n%s", want, r.stdout)
		}
	}
}

func TestDoctorFailures(t *testing.T) {
	needDocker(t)
	// erl without -sname: Erlang, and no epmd to be seen.
	silent := start(t, "silent", nil, "erl", "-noshell", "-noinput")
	time.Sleep(time.Second)

	checks, r := doctorJSON(t, binary, nil)
	if r.code != exitFailed {
		t.Errorf("doctor with a silent Erlang container: exit %d, want 1", r.code)
	}
	wantCheck(t, checks, "epmd in containers", statusFail, silent.Name)

	// No erl on PATH.
	checks, r = doctorJSON(t, binary, []string{"PATH=/nonexistent"})
	wantCheck(t, checks, "erl", statusFail, "not on PATH")
	if r.code != exitFailed {
		t.Errorf("doctor without erl: exit %d, want 1", r.code)
	}

	// A binary with no epmd_docker beside it.
	lone := filepath.Join(t.TempDir(), "epmd-docker")
	copyFile(t, binary, lone)
	checks, _ = doctorJSON(t, lone, nil)
	wantCheck(t, checks, "erlang library", statusFail, "no epmd_docker.beam")
}

// TestDoctorPermission runs the doctor as a user outside the docker group:
// the socket refuses it, and the fix names the group.
func TestDoctorPermission(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv")
	}
	sock := "/var/run/docker.sock"
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm()&0o006 != 0 {
		t.Skip("no docker socket closed to others")
	}
	dir, err := os.MkdirTemp("", "epmd-docker-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	lone := filepath.Join(dir, "epmd-docker")
	copyFile(t, binary, lone)
	r := runBinary(t, "setpriv", []string{"HOME=" + dir, "DOCKER_HOST="}, "--reuid=65534", "--regid=65534", "--clear-groups", lone, "doctor")
	if r.code != exitUnavailable || !strings.Contains(r.stdout, "permission denied") || !strings.Contains(r.stdout, "usermod -aG docker") {
		t.Errorf("doctor as nobody: exit %d, want 3 and the docker-group hint:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestProbeState(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, refused := epmd.Names(ctx, closed)

	tests := []struct {
		err  error
		want string
	}{
		{nil, epmdOK},
		{refused, epmdNone},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), epmdUnreachable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, epmdUnreachable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, epmdUnreachable},
		{epmd.ErrNotEPMD, epmdError},
	}
	for _, tt := range tests {
		if got, _ := probeState(tt.err); got != tt.want {
			t.Errorf("%v: got %s, want %s", tt.err, got, tt.want)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestDoctorContext: the daemon of the current docker context, or of
// DOCKER_CONTEXT, is the one asked, and the doctor says what chose it.
func TestDoctorContext(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI to create a context with")
	}
	cfg := t.TempDir()
	sock := filepath.Join(cfg, "gone.sock")
	dockerCLI := func(args ...string) {
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg, "DOCKER_HOST=", "DOCKER_CONTEXT=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, out)
		}
	}
	dockerCLI("context", "create", "vm", "--docker", "host=unix://"+sock)
	dockerCLI("context", "use", "vm")

	env := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_HOST=", "DOCKER_CONTEXT="}
	r := runBinary(t, binary, env, "doctor", "--json")
	var ans doctorAnswer
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || len(ans.Checks) == 0 {
		t.Fatalf("doctor --json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	c := ans.Checks[0]
	if r.code != exitUnavailable || c.Name != "docker reachable" || c.Status != statusFail ||
		!strings.Contains(c.Detail, "unix://"+sock) || !strings.Contains(c.Detail, "context vm (currentContext in "+filepath.Join(cfg, "config.json")+")") ||
		!strings.Contains(c.Fix, "docker context") {
		t.Errorf("current context vm, its daemon gone: exit %d, %+v", r.code, c)
	}

	r = runBinary(t, binary, append(env, "DOCKER_CONTEXT=nosuch"), "doctor", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || len(ans.Checks) == 0 {
		t.Fatalf("doctor --json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if c := ans.Checks[0]; r.code != exitUnavailable || c.Status != statusFail || !strings.Contains(c.Detail, `"nosuch"`) || !strings.Contains(c.Fix, "docker context ls") {
		t.Errorf("DOCKER_CONTEXT=nosuch: exit %d, %+v", r.code, c)
	}
}
