package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// IPv6: container nodes on an IPv6-enabled user-defined network, running
// `-proto_dist inet6_tcp`, are reached over IPv6 by an admin node with
// `-proto_dist inet6_tcp -epmd_module epmd_docker` (OTP 24.2 on) or with
// the shim, `-proto_dist epmd_docker6` (every release).
func TestIPv6(t *testing.T) {
	scenarioIPv6(t, hostOTP)
}

// ipv6Network creates a labelled user-defined network with IPv6 on a
// random unique local /64, so that concurrent runs and the host's own fd00::
// addresses never collide. dockerd needs no "ipv6" setting for this: that
// one only concerns the default bridge.
func ipv6Network(t *testing.T) string {
	t.Helper()
	network := "e2e-v6-" + randHex(3)
	r := randHex(4)
	subnet := fmt.Sprintf("fd5e:%s:%s::/64", r[:4], r[4:])
	docker(t, "network", "create", "--label", label, "--ipv6", "--subnet", subnet, network)
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", network).Run() })
	return network
}

func scenarioIPv6(t *testing.T, o *otp) {
	network := ipv6Network(t)
	c := o.startNode(t, nodeSpec{
		DockerArgs: []string{"--network", network},
		Extra:      []string{"-proto_dist", "inet6_tcp"},
	})
	ip6 := docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}", c.ID)
	if ip6 == "" {
		t.Fatalf("test setup: container %.12s on %s has no IPv6 address", c.ID, network)
	}
	// A node on the default bridge, which has no IPv6 here.
	v4only := o.startNode(t, nodeSpec{})

	variants := []struct {
		name  string
		flags []string
	}{{"proto_dist_epmd_docker6", []string{"-proto_dist", "epmd_docker6"}}}
	if o.selectsThroughEpmdModule() {
		variants = append(variants, struct {
			name  string
			flags []string
		}{"proto_dist_inet6_tcp", []string{"-proto_dist", "inet6_tcp"}})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			a := o.startAdmin(t, nil, nil, v.flags...)
			start := time.Now()
			if got := a.Connect(c.Node); got != "true" {
				t.Fatalf("connect_node(%s) = %s, want true\n%s", c.Node, got, a.Output())
			}
			t.Logf("connected over IPv6 in %v", time.Since(start).Round(time.Millisecond))
			if got := a.RPCNode(c.Node); got != atom(c.Node) {
				t.Errorf("rpc to %s: erlang:node() = %s", c.Node, got)
			}
			// #net_address{address = {Ip, Port}, family = inet6}
			got := a.Eval(fmt.Sprintf("case net_kernel:node_info('%s', address) of {ok, A} -> {element(5, A), inet:ntoa(element(1, element(2, A)))}; E -> E end", c.Node), 5*time.Second)
			if want := fmt.Sprintf("{inet6,%q}", ip6); got != want {
				t.Errorf("connection to %s: {family, address} = %s, want %s", c.Node, got, want)
			}
			start = time.Now()
			if got := a.Connect(v4only.Node); got != "false" {
				t.Errorf("connect_node(%s), a container with no IPv6 address, = %s, want false", v4only.Node, got)
			}
			took := time.Since(start)
			t.Logf("the IPv4-only container was refused in %v", took.Round(time.Millisecond))
			if took > 7*time.Second {
				t.Errorf("the IPv4-only container was refused after %v, want well under 7 s", took)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(a.Output(), v4only.Hostname) {
				if time.Now().After(deadline) {
					t.Fatalf("no log line names %s, which has no IPv6 address; output:\n%s", v4only.Hostname, a.Output())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
