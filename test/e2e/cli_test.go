package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privateCookies lists the cookie files under dir (the private HOMEs of
// remsh and eval).
func privateCookies(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == ".erlang.cookie" {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// descendants are the pids of every process below pid.
func descendants(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		for q := parentPid(p); q > 1; q = parentPid(q) {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// pipedRemsh starts `epmd-docker remsh NODE ARGS` with its input a pipe
// that stays open, in a process group of its own, and returns once erl
// runs under it and has read the cookie: its private cookie file is gone,
// or a minute has passed (how it was before). The test ends it.
func pipedRemsh(t *testing.T, env []string, run, node string, args ...string) (cmd *exec.Cmd, erl int) {
	t.Helper()
	cmd = exec.Command(helperBin(), append([]string{"remsh", node}, args...)...)
	cmd.Env = append(append(os.Environ(), "ERLANG_COOKIE="+cookie, "XDG_RUNTIME_DIR="+run), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, p := range descendants(cmd.Process.Pid) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); strings.TrimSpace(string(comm)) == "beam.smp" && parentPid(p) == cmd.Process.Pid {
				erl = p
			}
		}
		if erl != 0 && len(privateCookies(t, run)) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if erl == 0 {
		t.Fatalf("no erl under epmd-docker remsh; its output: %s", out.String())
	}
	return cmd, erl
}

// TestCookieHygiene: no copy of the cookie outlives its use or leaks to
// other processes. Each case failed before: the private HOME with the
// cookie stayed for as long as erl ran, and behind when epmd-docker was
// killed; ERLANG_COOKIE reached erl and its children; of --cookie a
// --cookie b, a stayed in the process list; a plain tcp:// daemon carried
// the container's environment unannounced.
func TestCookieHygiene(t *testing.T) {
	c := startNode(t, nodeSpec{})

	t.Run("no cookie file while erl runs, nor after kill -9", func(t *testing.T) {
		run := t.TempDir()
		cmd, erl := pipedRemsh(t, nil, run, c.Node)
		if got := privateCookies(t, run); len(got) > 0 {
			t.Errorf("while erl runs, the cookie is on disk: %v", got)
		}
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = syscall.Kill(erl, syscall.SIGKILL)
		_ = cmd.Wait()
		if got := privateCookies(t, run); len(got) > 0 {
			t.Errorf("after kill -9, the cookie is on disk: %v", got)
		}

		// A private HOME of a dead epmd-docker (as before) is swept by
		// the next run.
		stale := filepath.Join(run, "epmd-docker-remsh-999999999-abc")
		must(t, os.MkdirAll(stale, 0o700))
		must(t, os.WriteFile(filepath.Join(stale, ".erlang.cookie"), []byte(cookie), 0o400))
		if r := runHelper(t, []string{"XDG_RUNTIME_DIR=" + run}, nil, "eval", c.Node, "ok."); r.code != 0 {
			t.Fatalf("eval: %d %q", r.code, r.stderr)
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Errorf("the stale private HOME %s is still there: %v", stale, err)
		}
	})

	t.Run("SIGTERM cleans up", func(t *testing.T) {
		run := t.TempDir()
		cmd, _ := pipedRemsh(t, nil, run, c.Node)
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("epmd-docker remsh did not end on SIGTERM")
		}
		if ents, _ := os.ReadDir(run); len(ents) > 0 {
			t.Errorf("after SIGTERM, %s still holds %v", run, ents)
		}
	})

	t.Run("ERLANG_COOKIE reaches no other process", func(t *testing.T) {
		cmd, _ := pipedRemsh(t, nil, t.TempDir(), c.Node)
		for _, p := range descendants(cmd.Process.Pid) {
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p))
			if strings.Contains(string(env), cookie) {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
				t.Errorf("process %d (%s) has the cookie in its environment", p, strings.TrimSpace(string(comm)))
			}
		}
	})

	t.Run("every --cookie leaves the process list", func(t *testing.T) {
		first := "first" + randHex(6)
		cmd, _ := pipedRemsh(t, []string{"ERLANG_COOKIE="}, t.TempDir(), c.Node, "--cookie", first, "--cookie", cookie)
		for _, p := range append([]int{cmd.Process.Pid}, descendants(cmd.Process.Pid)...) {
			argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			if s := string(argv); strings.Contains(s, first) || strings.Contains(s, cookie) {
				t.Errorf("process %d shows a cookie in its command line: %q", p, strings.ReplaceAll(s, "\x00", " "))
			}
		}
	})

	t.Run("plain tcp:// is announced", func(t *testing.T) {
		host := dockerOverTCP(t)
		env := []string{"DOCKER_HOST=" + host}
		rel := startNode(t, nodeSpec{DockerArgs: []string{"-e", "RELEASE_COOKIE=" + cookie}})
		r := runHelper(t, append(env, "ERLANG_COOKIE="), strings.NewReader("ok.\n"), "remsh", rel.Node, "--cookie-from-container")
		if !strings.Contains(r.stderr, "unencrypted") {
			t.Errorf("remsh --cookie-from-container over %s: exit %d, stderr %q; want a warning", host, r.code, r.stderr)
		}
		r = runHelper(t, env, nil, "doctor")
		if !strings.Contains(r.stdout+r.stderr, "unencrypted") {
			t.Errorf("doctor over %s does not say it is unencrypted:\n%s%s", host, r.stdout, r.stderr)
		}
	})
}

// dockerOverTCP serves the Docker socket on a loopback TCP port, plain,
// for the length of the test, and returns DOCKER_HOST for it.
func dockerOverTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var d net.Dialer
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				up, err := d.DialContext(ctx, "unix", "/var/run/docker.sock")
				cancel()
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, conn) }()
				_, _ = io.Copy(conn, up)
			}()
		}
	}()
	return "tcp://" + l.Addr().String()
}
