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

// registrar is an Erlang expression that registers each of names with the
// epmd of its container (ALIVE2_REQ, as a node does) and keeps them
// registered: what any process in a container can do.
func registrar(names ...string) string {
	var list []string
	for _, n := range names {
		var codes []string
		for _, b := range []byte(n) {
			codes = append(codes, strconv.Itoa(int(b)))
		}
		list = append(list, "["+strings.Join(codes, ",")+"]")
	}
	return `Reg = fun(Name) ->
	    {ok, S} = gen_tcp:connect({127,0,0,1}, 4369, [binary, {active, false}]),
	    N = list_to_binary(Name),
	    Body = <<$x, 9999:16, 77, 0, 6:16, 5:16, (byte_size(N)):16, N/binary, 0:16>>,
	    ok = gen_tcp:send(S, [<<(byte_size(Body)):16>>, Body]),
	    {ok, _} = gen_tcp:recv(S, 0),
	    S
	end,
	_ = [Reg(N) || N <- [` + strings.Join(list, ",") + `]],
	timer:sleep(infinity).`
}

// TestHostileNodeNames: a container's epmd lists names carrying terminal
// escape sequences, and another lists 30,000 names. ls and remsh used to
// print the first raw, and epmd_docker:nodes/0 made an atom of every name
// (60,000 atoms in two calls; the VM dies at about a million).
func TestHostileNodeNames(t *testing.T) {
	evil := []string{"\x1b]0;owned\x07", "\x1b[2Jgone", "ok\x1b[31m"}
	ctr := runSleeperCmd(t, "sh", "-c", "erl -sname app -setcookie "+cookie+" -noshell -noinput -detached; sleep 2; exec erl -noshell -noinput -eval '"+registrar(evil...)+"'")
	waitRegistered(t, ctr.ID, "app")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("docker", "exec", ctr.ID, "epmd", "-names").Output()
		if strings.Count("\n"+string(out), "\nname ") >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hostile names were never registered: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	r := runHelper(t, nil, nil, "ls")
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
		t.Errorf("ls printed an escape sequence from a container:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, ctr.Node) {
		t.Errorf("ls does not list %s:\n%s", ctr.Node, r.stdout)
	}
	r = runHelper(t, nil, strings.NewReader("node().\n"), "remsh", ctr.ID[:12])
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") || r.code != 0 || !strings.HasPrefix(r.stdout, ctr.Node+"\n") {
		t.Errorf("remsh: exit %d, stdout %q, stderr %q; want %s and no escape sequence", r.code, r.stdout, r.stderr, ctr.Node)
	}

	// 30,000 names from a fake epmd: atoms stay bounded, and the cut is
	// logged.
	fake := `Names = iolist_to_binary([io_lib:format("name n~b at port 20000~n", [I]) || I <- lists:seq(1, 30000)]),
	{ok, L} = gen_tcp:listen(4369, [binary, {reuseaddr, true}, {active, false}]),
	Loop = fun Loop() -> {ok, S} = gen_tcp:accept(L), _ = gen_tcp:recv(S, 0, 5000), ok = gen_tcp:send(S, [<<4369:32>>, Names]), gen_tcp:close(S), Loop() end,
	Loop().`
	many := runSleeperCmd(t, "erl", "-noshell", "-noinput", "-eval", fake)
	a := startAdmin(t, nil)
	waitEval(t, a, fmt.Sprintf("length([N || N <- epmd_docker:nodes(), lists:suffix(\"@%s\", atom_to_list(N))])", many.Hostname), 30*time.Second,
		func(s string) bool { return s == "64" })
	got := a.Eval("begin A = erlang:system_info(atom_count), _ = epmd_docker:nodes(), _ = epmd_docker:nodes(), erlang:system_info(atom_count) - A end", 30*time.Second)
	if n, err := strconv.Atoi(got); err != nil || n > 200 {
		t.Errorf("two calls of nodes/0 made %s atoms; want at most 200", got)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(a.Output(), "left out") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line saying names were left out:\n%s", a.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runSleeperCmd starts a labelled container of the test image running
// cmd, and returns it as a Container with Node app@HOSTNAME.
func runSleeperCmd(t *testing.T, cmd ...string) Container {
	t.Helper()
	c := runContainer(t, image, hostUsr(), cmd...)
	c.Node = "app@" + c.Hostname
	return c
}

// TestPublishedModeFindsNodes: in published mode ls, epmd_docker:nodes/0
// and remsh find a node that only publishes its distribution port, with
// no epmd in its container at all, by the opening of a distribution
// handshake on that port. They used to ask the epmd only.
func TestPublishedModeFindsNodes(t *testing.T) {
	pub := startPublished(t)
	env := []string{"EPMD_DOCKER_MODE=published"}

	// A long probe timeout: the machine may be loaded.
	r := runHelper(t, env, nil, "ls", "--timeout", "10s")
	if !strings.Contains(r.stdout, pub.Node) {
		t.Errorf("ls in published mode does not list %s:\n%s%s", pub.Node, r.stdout, r.stderr)
	}
	a := startAdmin(t, env)
	if got := a.Eval("epmd_docker:nodes()", 20*time.Second); !strings.Contains(got, atom(pub.Node)) {
		t.Errorf("nodes() in published mode: %s, want it to hold %s", got, pub.Node)
	}
	r = runHelper(t, env, strings.NewReader("node().\n"), "remsh", pub.ID[:12])
	if r.code != 0 || !strings.HasPrefix(r.stdout, pub.Node+"\n") {
		t.Errorf("remsh in published mode: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = runHelper(t, env, nil, "eval", pub.Hostname, "node().")
	if r.code != 0 || r.stdout != pub.Node+"\n" {
		t.Errorf("eval in published mode: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}

// startPublished starts a node with no epmd (OTP 23's -erl_epmd_port) on
// distribution port 9100, published on this host's loopback only.
func startPublished(t *testing.T) Container {
	t.Helper()
	c := runContainer(t, image, hostUsr("-p", "127.0.0.1::9100"),
		"erl", "-sname", "app", "-setcookie", cookie, "-start_epmd", "false", "-erl_epmd_port", "9100",
		"-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9100", "-noshell", "-noinput")
	c.Node = "app@" + c.Hostname
	id := c.ID
	// Up when the node listens on 9100 (0x238C) inside the container:
	// the published port on the host accepts connections before that.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("docker", "exec", id, "cat", "/proc/net/tcp", "/proc/net/tcp6").Output()
		if strings.Contains(string(out), ":238C 00000000:0000 0A") || strings.Contains(string(out), ":238C 00000000000000000000000000000000:0000 0A") {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Fatalf("the published node never listened on 9100; its log:\n%s", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}
