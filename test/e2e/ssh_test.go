package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Docker host reached over SSH, as from a laptop: DOCKER_HOST=ssh://
// to an sshd of the test's own on loopback, logging in as a user of the
// test's own, and an admin node running as another user for whom the
// container network is rejected by iptables. That it still connects,
// lists nodes and opens a remote shell proves the traffic went through
// the SSH tunnel. Then sshd is stopped and started again under the
// running node (the next lookup builds a new connection), and a key the
// server does not accept gives a clear error while the node stays up.
func TestRemoteDockerOverSSH(t *testing.T) {
	s := startSSHServer(t)
	netName := "edssh-" + randHex(3)
	subnet := testNetwork(t, netName)
	c := startNode(t, nodeSpec{DockerArgs: []string{"--network", netName}})
	ip := strings.TrimSpace(containerIP(t, c.ID))
	rejectForUID(t, s.client.Uid, subnet)

	// The admin node's files must be readable by its user.
	must(t, os.Chmod(driverDir, 0o755))
	// A first lookup also logs in over SSH: give it time on a loaded
	// machine.
	env := []string{"HOME=" + s.clientHome, "DOCKER_HOST=" + s.dockerHost, "EPMD_DOCKER_LOG=info", "EPMD_DOCKER_TIMEOUT=10000"}
	a := startAdminAs(t, s.cred(), env)

	// The admin's user cannot reach the container's address itself.
	probe := fmt.Sprintf("gen_tcp:connect(\"%s\", 4369, [], 5000)", ip)
	if got := a.Eval(probe, 15*time.Second); !strings.HasPrefix(got, "{error,") {
		t.Fatalf("the admin node reaches %s:4369 directly (%s): the test cannot tell a tunnel from a route", ip, got)
	}

	resolved := waitTunnel(t, a, c.Hostname)
	t.Logf("%s resolves to %s", c.Hostname, resolved)
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) over SSH = %s\noutput:\n%s", c.Node, got, a.Output())
	}
	if got := a.RPCNode(c.Node); got != atom(c.Node) {
		t.Fatalf("rpc to %s = %s", c.Node, got)
	}
	// nodes/0 finds it through the same tunnels: the admin's user cannot
	// reach the container's epmd any other way.
	if got := a.Eval("epmd_docker:nodes()", 30*time.Second); !strings.Contains(got, atom(c.Node)) {
		t.Fatalf("epmd_docker:nodes() over SSH = %s, want it to hold %s", got, c.Node)
	}

	// The tunnel's local end serves the admin's user only: this test runs
	// as root, whose connection is closed without a word.
	t.Run("other users refused", func(t *testing.T) {
		port := strings.TrimSuffix(strings.TrimPrefix(resolved, "{ok,{127,0,0,1},"), "}")
		conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
		must(t, err)
		defer conn.Close()
		must(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
		if n, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("another user's connection to the tunnel at port %s: read %d bytes, %v; want it closed", port, n, err)
		}
	})

	t.Run("ls", func(t *testing.T) {
		out := s.run(t, filepath.Join(root, "priv", "epmd-docker"), "ls")
		if !strings.Contains(out, c.Node) || !strings.Contains(out, "tunnel") {
			t.Fatalf("ls over SSH does not list %s reached by tunnel:\n%s", c.Node, out)
		}
	})

	t.Run("doctor", func(t *testing.T) {
		// Its exit status also tells of other containers on this daemon.
		out, _ := s.runErr(t, nil, filepath.Join(root, "priv", "epmd-docker"), "doctor")
		// Column widths follow the statuses shown: match words, not spaces.
		for _, want := range []string{`(?m)^ok +docker reachable `, `daemon reached over SSH`, `(?m)^ok +reached via +SSH tunnels`} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Fatalf("doctor over SSH does not match %q:\n%s", want, out)
			}
		}
	})

	t.Run("remsh", func(t *testing.T) {
		cmdline := shellJoin(append(s.asClient("ERLANG_COOKIE="+cookie, "EPMD_DOCKER_TIMEOUT=10000"), filepath.Join(root, "priv", "epmd-docker"), "remsh", c.Hostname))
		remshInTerminal(t, "e2e-sshremsh-", cmdline, c.Node, hostOTP.release(), 30*time.Second)
	})

	t.Run("sshd restarted", func(t *testing.T) {
		s.stop(t)
		// The connection is gone with sshd: the node loses its peer and
		// lookups fail, but it keeps running.
		waitEval(t, a, fmt.Sprintf("lists:member('%s', nodes(hidden))", c.Node), 60*time.Second, is("false"))
		if got := a.Eval("node() =/= nonode@nohost", 10*time.Second); got != "true" {
			t.Fatalf("admin node without distribution after sshd stopped: %s", got)
		}
		s.start(t)
		waitTunnel(t, a, c.Hostname)
		if got := a.Connect(c.Node); got != "true" {
			t.Fatalf("connect_node(%s) after sshd restarted = %s\noutput:\n%s", c.Node, got, a.Output())
		}
		if got := a.RPCNode(c.Node); got != atom(c.Node) {
			t.Fatalf("rpc to %s after sshd restarted = %s", c.Node, got)
		}
	})

	// doctor says which step failed: the docker CLI missing on the
	// server (sshd gives sessions a PATH without it), or the daemon
	// there not answering (a socket path that does not exist).
	t.Run("no docker CLI", func(t *testing.T) {
		s.stop(t)
		s.extraConfig = "SetEnv PATH=/nonexistent\n"
		s.writeConfig(t)
		s.start(t)
		defer func() {
			s.stop(t)
			s.extraConfig = ""
			s.writeConfig(t)
			s.start(t)
		}()
		out, _ := s.runErr(t, nil, filepath.Join(root, "priv", "epmd-docker"), "doctor")
		if !strings.Contains(out, "the server has no docker command") {
			t.Fatalf("doctor with no docker CLI on the server does not say so:\n%s", out)
		}
	})
	t.Run("daemon down", func(t *testing.T) {
		out, _ := s.runErr(t, []string{"DOCKER_HOST=" + s.dockerHost + "/run/epmd-docker-test-nonexistent.sock"}, filepath.Join(root, "priv", "epmd-docker"), "doctor")
		if !strings.Contains(out, "cannot reach its daemon") {
			t.Fatalf("doctor with no daemon on the server does not say so:\n%s", out)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		s.stop(t)
		other := filepath.Join(s.dir, "other")
		sshKeygen(t, other)
		pub, err := os.ReadFile(other + ".pub")
		must(t, err)
		must(t, os.WriteFile(filepath.Join(s.serverHome, ".ssh", "authorized_keys"), pub, 0o600))
		s.start(t)

		out, _ := s.runErr(t, nil, filepath.Join(root, "priv", "epmd-docker"), "doctor")
		if !strings.Contains(out, "refused the login") {
			t.Fatalf("doctor with a key the server refuses does not say so:\n%s", out)
		}
		waitEval(t, a, fmt.Sprintf("element(1, epmd_docker:resolve(\"%s\"))", c.Hostname), 60*time.Second, is("error"))
		if got := a.Eval("node() =/= nonode@nohost", 10*time.Second); got != "true" {
			t.Fatalf("admin node without distribution after a refused key: %s", got)
		}
		if !strings.Contains(a.Output(), "refused the login") {
			t.Fatalf("the helper does not say the login was refused:\n%s", a.Output())
		}
	})
}

// waitTunnel waits until host resolves to the local end of a tunnel,
// {ok,{127,0,0,1},Port}, and returns that answer. The first lookup of a
// helper starts the SSH connection, which may take longer than one
// request may.
func waitTunnel(t *testing.T, a *Admin, host string) string {
	t.Helper()
	return waitEval(t, a, fmt.Sprintf("epmd_docker:resolve(\"%s\")", host), 60*time.Second,
		func(got string) bool { return strings.HasPrefix(got, "{ok,{127,0,0,1},") })
}

func is(want string) func(string) bool {
	return func(got string) bool { return got == want }
}

// sshServer is an sshd of the test's own on 127.0.0.1, and the two users:
// server logs in (docker group), client runs the admin node.
type sshServer struct {
	dir                    string
	port                   int
	config, hostKey        string
	extraConfig            string // appended to sshd_config
	server, client         *user.User
	serverHome, clientHome string
	dockerHost             string
	cmd                    *exec.Cmd
	log                    *bytes.Buffer
}

// startSSHServer makes the users, keys and configuration in a temporary
// directory and starts sshd. Everything is removed when the test ends,
// pass or fail.
func startSSHServer(t *testing.T) *sshServer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the SSH test needs root (users, sshd, iptables)")
	}
	for _, p := range []string{"/usr/sbin/sshd", "ssh", "ssh-keygen", "useradd", "userdel", "iptables", "setpriv"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is required (test/setup.sh installs openssh-server and openssh-client)", p)
		}
	}
	dir, err := os.MkdirTemp("", "edssh")
	must(t, err)
	must(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &sshServer{dir: dir, log: &bytes.Buffer{}, serverHome: filepath.Join(dir, "srv"), clientHome: filepath.Join(dir, "cli")}
	tag := randHex(3)
	s.server = addUser(t, "edsrv"+tag, s.serverHome, "docker")
	s.client = addUser(t, "edcli"+tag, s.clientHome, "")

	// Keys: the server's host key, the client's key, authorized on the
	// server, and the host key known to the client (BatchMode never asks).
	hostKey := filepath.Join(dir, "host_ed25519")
	sshKeygen(t, hostKey)
	clientKey := filepath.Join(s.clientHome, ".ssh", "id_ed25519")
	sshKeygen(t, clientKey)
	pub, err := os.ReadFile(clientKey + ".pub")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(s.serverHome, ".ssh", "authorized_keys"), pub, 0o600))
	hostPub, err := os.ReadFile(hostKey + ".pub")
	must(t, err)
	s.port, err = strconv.Atoi(freePort(t))
	must(t, err)
	f := strings.Fields(string(hostPub))
	must(t, os.WriteFile(filepath.Join(s.clientHome, ".ssh", "known_hosts"), fmt.Appendf(nil, "[127.0.0.1]:%d %s %s\n", s.port, f[0], f[1]), 0o600))
	chownTree(t, s.serverHome, s.server)
	chownTree(t, s.clientHome, s.client)

	s.config = filepath.Join(dir, "sshd_config")
	s.hostKey = hostKey
	s.writeConfig(t)
	// sshd refuses to start without its privilege separation directory.
	must(t, os.MkdirAll("/run/sshd", 0o755))
	s.dockerHost = fmt.Sprintf("ssh://%s@127.0.0.1:%d", s.server.Username, s.port)
	s.start(t)
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop(t)
		}
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.String())
		}
	})
	return s
}

// writeConfig writes sshd_config: loopback only, keys only, one user.
func (s *sshServer) writeConfig(t *testing.T) {
	t.Helper()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers %s
AuthorizedKeysFile .ssh/authorized_keys
AllowTcpForwarding yes
X11Forwarding no
LogLevel VERBOSE
%s`, s.port, s.hostKey, filepath.Join(s.dir, "sshd.pid"), s.server.Username, s.extraConfig)
	must(t, os.WriteFile(s.config, []byte(cfg), 0o600))
}

// start runs sshd in the foreground (-D) and waits until it accepts.
func (s *sshServer) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", s.config)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	s.cmd = cmd
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	for i := 0; i < 200; i++ {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sshd does not listen on %s:\n%s", addr, s.log.String())
}

// stop ends sshd and every session it serves, so that the connections
// drop, as when a server restarts.
func (s *sshServer) stop(t *testing.T) {
	t.Helper()
	pids := descendants(s.cmd.Process.Pid)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	_ = s.cmd.Wait()
	s.cmd = nil
}

// cred is the client user's, for exec.
func (s *sshServer) cred() *syscall.Credential {
	uid, _ := strconv.Atoi(s.client.Uid)
	gid, _ := strconv.Atoi(s.client.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// asClient is the command prefix that runs a program as the client user,
// with its HOME and DOCKER_HOST, and env.
func (s *sshServer) asClient(env ...string) []string {
	args := []string{"setpriv", "--reuid", s.client.Uid, "--regid", s.client.Gid, "--clear-groups",
		"env", "HOME=" + s.clientHome, "DOCKER_HOST=" + s.dockerHost}
	return append(args, env...)
}

// run runs a program as the client user and returns its output; it fails
// the test if the program does.
func (s *sshServer) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.runErr(t, nil, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runErr is run with env added, and the program's error returned.
func (s *sshServer) runErr(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	argv := append(s.asClient(env...), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// addUser makes a user of the test's own, with its home and ~/.ssh, and
// removes it (and any process it still runs) when the test ends.
func addUser(t *testing.T, name, home, group string) *user.User {
	t.Helper()
	args := []string{"-M", "-d", home, "-s", "/bin/bash"}
	if group != "" {
		args = append(args, "-G", group)
	}
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killUID(u.Uid)
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v: %s", name, err, out)
		}
	})
	// A locked account ("!") is refused even a key when sshd runs
	// without PAM; "*" has no password and is not locked.
	if out, err := exec.Command("usermod", "-p", "*", name).CombinedOutput(); err != nil {
		t.Fatalf("usermod %s: %v: %s", name, err, out)
	}
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(t, os.Chmod(home, 0o700))
	return u
}

func chownTree(t *testing.T, dir string, u *user.User) {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}))
}

func sshKeygen(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "epmd-docker-test", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
}

// rejectForUID makes subnet unreachable for uid's own connections only
// (iptables owner match), until the test ends.
func rejectForUID(t *testing.T, uid, subnet string) {
	t.Helper()
	rule := []string{"OUTPUT", "-m", "owner", "--uid-owner", uid, "-d", subnet, "-j", "REJECT"}
	if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("iptables", append([]string{"-D"}, rule...)...).CombinedOutput(); err != nil {
			t.Errorf("removing the iptables rule: %v: %s", err, out)
		}
	})
}

// killUID ends the processes a test user still runs, each by its pid.
func killUID(uid string) {
	eachProc("status", func(p int, status string) {
		for _, line := range strings.Split(status, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == uid {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
}

// eachProc calls fn with every process's pid and its /proc/PID/file.
func eachProc(file string, fn func(pid int, content string)) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), file)); err == nil {
			fn(p, string(b))
		}
	}
}
