package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenario a: `erl -remsh node@HOST` in a real terminal. The remote shell
// is typed into through tmux, the way a person would, with both the plain
// -epmd_module command line and the original one with -proto_dist.
func TestRemoteShellInTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (make test installs it)")
	}
	c := startNode(t, nodeSpec{})
	cases := []struct {
		name  string
		flags []string
	}{
		{"epmd_module", nil},
		{"proto_dist_as_in_original_sketch", []string{"-proto_dist", "epmd_docker"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			session := "e2e-remsh-" + randHex(3)
			args := adminArgs(tc.flags...)
			args = append(args, "-sname", "shell"+randHex(3), "-remsh", c.Node)
			cmdline := "erl " + shellJoin(args)
			out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", cmdline).CombinedOutput()
			if err != nil {
				t.Fatalf("tmux: %v: %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() })

			prompt := "(" + c.Node + ")1>"
			waitScreen(t, session, prompt, 20*time.Second)
			typeLine(t, session, "{node(), 6*7}.")
			waitScreen(t, session, "{"+atom(c.Node)+",42}", 10*time.Second)
		})
	}
}

// Scenario b: one hidden admin node reaches three container nodes.
func TestHiddenAdminReachesThreeNodes(t *testing.T) {
	var cs []Container
	for i := 0; i < 3; i++ {
		cs = append(cs, startNode(t, nodeSpec{}))
	}
	a := startAdmin(t, nil)
	for _, c := range cs {
		if got := a.Connect(c.Node); got != "true" {
			t.Fatalf("connect_node(%s) = %s, want true\n%s", c.Node, got, a.Output())
		}
		if got := a.RPCNode(c.Node); got != atom(c.Node) {
			t.Errorf("rpc to %s: erlang:node() = %s, want %s", c.Node, got, atom(c.Node))
		}
	}
	got := a.Eval("lists:sort(nodes(hidden))", 5*time.Second)
	for _, c := range cs {
		if !strings.Contains(got, atom(c.Node)) {
			t.Errorf("nodes(hidden) = %s, want it to contain %s", got, c.Node)
		}
	}
	// The admin node is hidden: the container nodes must not see it as a
	// visible peer, or global in the cluster would try to reach it back.
	if got := a.Eval(fmt.Sprintf("rpc:call('%s', erlang, nodes, [])", cs[0].Node), 10*time.Second); got != "[]" {
		t.Errorf("nodes() on %s = %s, want [] (admin must be hidden)", cs[0].Node, got)
	}
}

// Scenario c: the host part may be a custom hostname, the container's name
// or a compose-style service alias on a user-defined network.
func TestNameForms(t *testing.T) {
	sfx := randHex(3)
	network := "e2e-net-" + sfx
	docker(t, "network", "create", "--label", label, network)
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", network).Run() })

	cases := []struct {
		name string
		spec nodeSpec
		want string
	}{
		{
			name: "custom_hostname",
			spec: nodeSpec{DockerArgs: []string{"--name", "web-" + sfx, "--hostname", "custom-" + sfx}},
			want: "app@custom-" + sfx,
		},
		{
			name: "container_name_as_host_part",
			spec: nodeSpec{DockerArgs: []string{"--name", "named-" + sfx}, SName: "app@named-" + sfx},
			want: "app@named-" + sfx,
		},
		{
			name: "compose_service_alias",
			spec: nodeSpec{
				DockerArgs: []string{
					"--name", "proj-svc" + sfx + "-1", "--network", network, "--network-alias", "svc" + sfx,
					"--label", "com.docker.compose.service=svc" + sfx,
				},
				SName: "app@svc" + sfx,
			},
			want: "app@svc" + sfx,
		},
	}
	a := startAdmin(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startNode(t, tc.spec)
			if c.Node != tc.want {
				t.Fatalf("test setup: node is %s, want %s", c.Node, tc.want)
			}
			if got := a.Connect(tc.want); got != "true" {
				t.Fatalf("connect_node(%s) = %s, want true\n%s", tc.want, got, a.Output())
			}
			if got := a.RPCNode(tc.want); got != atom(tc.want) {
				t.Errorf("rpc to %s: node() = %s", tc.want, got)
			}
		})
	}
}

// Scenario d: a container restarted onto a new address is reached at the new
// address by the same admin node. The cache TTL is ten minutes, so only the
// Docker event can explain a fresh answer.
func TestRestartMovesAddress(t *testing.T) {
	// A network of its own, so that no other container takes or frees
	// addresses in between: the lowest free address goes to the next start.
	network := "e2e-moving-" + randHex(3)
	docker(t, "network", "create", "--label", label, network)
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", network).Run() })
	c := startNode(t, nodeSpec{DockerArgs: []string{"--name", "moving-" + randHex(3), "--network", network}})
	a := startAdmin(t, []string{"EPMD_DOCKER_TTL=10m"})
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("first connect_node(%s) = %s\n%s", c.Node, got, a.Output())
	}
	before := containerIP(t, c.ID)

	docker(t, "stop", "-t", "1", c.ID)
	// Take the stopped container's address, so that the restart gets another.
	filler := docker(t, "run", "-d", "--label", label, "--network", network, "-v", "/usr:/usr:ro", image, "sleep", "600")
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", filler).Run() })
	docker(t, "start", c.ID)
	waitRegistered(t, c.ID, "app")
	after := containerIP(t, c.ID)
	if after == before || containerIP(t, filler) != before {
		t.Fatalf("test setup: want the filler on the old address %s and the node elsewhere; node is on %s, filler on %s", before, after, containerIP(t, filler))
	}
	a.Eval(fmt.Sprintf("erlang:disconnect_node('%s')", c.Node), 5*time.Second)
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) after restart (%s -> %s) = %s\n%s", c.Node, before, after, got, a.Output())
	}
	if got := a.RPCNode(c.Node); got != atom(c.Node) {
		t.Errorf("rpc after restart: %s", got)
	}
	got := a.Eval(fmt.Sprintf("epmd_docker:address_please(\"app\", \"%s\", inet)", c.Hostname), 5*time.Second)
	want := "{ok,{" + strings.ReplaceAll(strings.TrimSpace(after), ".", ",") + "}}"
	if got != want {
		t.Errorf("address_please after restart = %s, want %s", got, want)
	}
}

// Scenario e: an ordinary node on the host, outside Docker, is reachable
// from the same admin node, through ordinary name resolution and the host's
// own epmd.
func TestOrdinaryHostNode(t *testing.T) {
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
	node := name + "@" + host

	c := startNode(t, nodeSpec{})
	a := startAdmin(t, nil)
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) = %s", c.Node, got)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := a.Connect(node)
		if got == "true" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect_node(%s) = %s, want true\n%s", node, got, a.Output())
		}
		time.Sleep(200 * time.Millisecond) // the plain node may still be starting
	}
	if got := a.RPCNode(node); got != atom(node) {
		t.Errorf("rpc to %s: %s", node, got)
	}
}

// Scenario f: an unknown host fails within the connection setup time, with a
// log line that names it, and the admin node keeps working.
func TestUnknownHost(t *testing.T) {
	c := startNode(t, nodeSpec{})
	a := startAdmin(t, nil)
	host := "no-such-host-" + randHex(3)
	start := time.Now()
	got := a.Connect("app@" + host)
	took := time.Since(start)
	if got != "false" {
		t.Fatalf("connect_node(app@%s) = %s, want false", host, got)
	}
	// net_setuptime defaults to 7 s; failing later would block net_kernel.
	t.Logf("connect_node to an unknown host answered false in %v", took)
	if took > 7*time.Second {
		t.Errorf("connect_node to an unknown host took %v, want well under the 7 s setup time", took)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(a.Output(), host) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line names %s; output:\n%s", host, a.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("log line seen %v after the connect", time.Since(start))
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("after the failure, connect_node(%s) = %s", c.Node, got)
	}
}

// waitScreen waits until the tmux pane shows want.
func waitScreen(t *testing.T, session, want string, timeout time.Duration) {
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

func typeLine(t *testing.T, session, line string) {
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

// A host node with a fixed distribution port (-erl_epmd_port, which relx's
// start script sets from ERL_DIST_PORT) still reaches container nodes:
// erl_epmd would answer that port for every node, epmd_docker asks the
// container's epmd first.
func TestFixedDistPortHostNode(t *testing.T) {
	c := startNode(t, nodeSpec{})
	a := startAdmin(t, nil, "-erl_epmd_port", freePort(t))
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) with -erl_epmd_port = %s\n%s", c.Node, got, a.Output())
	}
	if got := a.RPCNode(c.Node); got != atom(c.Node) {
		t.Errorf("rpc to %s: %s", c.Node, got)
	}
}

// freePort is a TCP port that nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
