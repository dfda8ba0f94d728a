package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The core scenarios, a to f. Each runs with the host's Erlang here, and
// the ones that say nothing of the host's own network (a, b, d, f) also
// with every release of the OTP matrix (TestMatrix, matrix_test.go).

// Scenario a: `erl -remsh node@HOST` in a real terminal.
func TestRemoteShellInTerminal(t *testing.T) {
	scenarioRemoteShell(t, hostOTP)
}

// Scenario b: one hidden admin node reaches three container nodes.
func TestHiddenAdminReachesThreeNodes(t *testing.T) {
	scenarioHiddenAdmin(t, hostOTP)
}

// Scenario c: the host part may be a custom hostname, the container's name
// or a compose-style service alias on a user-defined network.
func TestNameForms(t *testing.T) {
	sfx := randHex(3)
	network := "e2e-net-" + sfx
	testNetwork(t, network)

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
// address by the same admin node, with plain -epmd_module epmd_docker.
func TestRestartMovesAddress(t *testing.T) {
	scenarioRestart(t, hostOTP)
}

// Scenario e: an ordinary node on the host, outside Docker, is reachable
// from the same admin node, through ordinary name resolution and the host's
// own epmd.
func TestOrdinaryHostNode(t *testing.T) {
	node := startPlainNode(t)
	c := startNode(t, nodeSpec{})
	a := startAdmin(t, nil)
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) = %s", c.Node, got)
	}
	connectEventually(t, a, node, 15*time.Second) // the plain node may still be starting
	if got := a.RPCNode(node); got != atom(node) {
		t.Errorf("rpc to %s: %s", node, got)
	}
}

// Scenario f: an unknown host fails within the connection setup time, with a
// log line that names it, and the admin node keeps working.
func TestUnknownHost(t *testing.T) {
	scenarioUnknownHost(t, hostOTP)
}

// scenarioRemoteShell: `erl -remsh node@HOST` typed into in a terminal
// through tmux, the way a person would: with the -proto_dist command line
// of the original sketch on every release, and with the plain -epmd_module
// one where select/1 asks the epmd module.
func scenarioRemoteShell(t *testing.T, o *otp) {
	c := o.startNode(t, nodeSpec{})
	variants := [][]string{{"-proto_dist", "epmd_docker"}}
	if o.selectsThroughEpmdModule() {
		variants = append(variants, nil)
	}
	for _, flags := range variants {
		name := "epmd_module"
		if flags != nil {
			name = "proto_dist"
		}
		t.Run(name, func(t *testing.T) {
			remshInTerminal(t, "e2e-remsh-", o.shellCommand(t, c.Node, flags...), c.Node, o.release(), 40*time.Second)
		})
	}
}

// scenarioHiddenAdmin: a hidden admin node reaches three container nodes of
// its own release (and one of the host's, for a matrix release), runs rpc
// on each, lists them all in nodes(hidden), and stays hidden.
func scenarioHiddenAdmin(t *testing.T, o *otp) {
	var cs []Container
	for i := 0; i < 3; i++ {
		cs = append(cs, o.startNode(t, nodeSpec{}))
	}
	if o != hostOTP {
		cs = append(cs, hostOTP.startNode(t, nodeSpec{}))
	}
	a := o.startAdmin(t, nil, nil, o.shimFlags()...)
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
	same := cs[0]
	want := fmt.Sprintf("%q", strconv.Itoa(o.release()))
	if got := a.Eval(fmt.Sprintf("rpc:call('%s', erlang, system_info, [otp_release], 10000)", same.Node), 15*time.Second); got != want {
		t.Errorf("the container node runs OTP %s, want %s", got, want)
	}
	// The admin node is hidden: the container nodes must not see it as a
	// visible peer, or global in the cluster would try to reach it back.
	if got := a.Eval(fmt.Sprintf("rpc:call('%s', erlang, nodes, [])", same.Node), 10*time.Second); got != "[]" {
		t.Errorf("nodes() on %s = %s, want [] (admin must be hidden)", same.Node, got)
	}
}

// scenarioRestart: a container restarted onto a new address is reached
// there by the same admin node, started with adminFlags; with a ten-minute
// TTL only the Docker event can explain the fresh answer.
func scenarioRestart(t *testing.T, o *otp, adminFlags ...string) {
	// A network of its own, so that no other container takes or frees
	// addresses in between: the lowest free address goes to the next start.
	network := "e2e-moving-" + randHex(3)
	testNetwork(t, network)
	c := o.startNode(t, nodeSpec{DockerArgs: []string{"--name", "moving-" + randHex(3), "--network", network}})
	a := o.startAdmin(t, []string{"EPMD_DOCKER_TTL=10m"}, nil, adminFlags...)
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("first connect_node(%s) = %s\n%s", c.Node, got, a.Output())
	}
	before := containerIP(t, c.ID)

	docker(t, "stop", "-t", "1", c.ID)
	// Take the stopped container's address, so that the restart gets another.
	filler := runSleeper(t, "--network", network)
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
	if want := "{ok," + erlIP(after) + "}"; got != want {
		t.Errorf("address_please after restart = %s, want %s", got, want)
	}
}

// scenarioUnknownHost: an unknown host fails well within the setup time,
// a log line names it, and the admin node keeps working.
func scenarioUnknownHost(t *testing.T, o *otp) {
	c := o.startNode(t, nodeSpec{})
	a := o.startAdmin(t, nil, nil, o.shimFlags()...)
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
	waitOutput(t, a, host, 5*time.Second)
	t.Logf("log line seen %v after the connect", time.Since(start))
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("after the failure, connect_node(%s) = %s", c.Node, got)
	}
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
