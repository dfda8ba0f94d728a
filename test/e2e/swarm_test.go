package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSwarm reaches Swarm tasks from their node: a service of 2 replicas
// on an attachable overlay network, with templated hostnames, and a plain
// container attached to that network. Their overlay
// addresses are not routed from the node (packets would leave by the
// default route); each task is reached at its docker_gwbridge address.
//
// The test makes the daemon a single-node swarm and leaves it afterwards,
// pass or fail; it skips when the daemon is in a swarm already, which it
// must not leave. Every network involved has an explicit subnet (the
// address pool for ingress, the overlay, docker_gwbridge), and before
// anything dials, REJECT rules on the default route's interface keep the
// pool and the overlay from leaving this machine. Cleanups run in reverse:
// the service, the overlay, the swarm, docker_gwbridge, then the rules.
func TestSwarm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for iptables")
	}
	if state := docker(t, "info", "--format", "{{.Swarm.LocalNodeState}}"); state != "inactive" {
		t.Skipf("the daemon is in a swarm already (%s): not touching it", state)
	}
	if out, _ := exec.Command("docker", "network", "inspect", "docker_gwbridge").CombinedOutput(); !strings.Contains(string(out), "No such network") && !strings.Contains(string(out), "not found") {
		t.Skipf("docker_gwbridge exists already: not touching it")
	}
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	n := int(b[0])%200 + 20
	pool := fmt.Sprintf("10.%d.0.0/16", n+1)         // ingress and other overlays the swarm makes
	overlay := fmt.Sprintf("10.%d.%d.0/24", n+2, n)  // the service's network
	gwbridge := fmt.Sprintf("10.%d.%d.0/24", n+3, n) // docker_gwbridge
	rejectOffMachine(t, pool, overlay)

	docker(t, "network", "create", "--subnet", gwbridge,
		"--opt", "com.docker.network.bridge.name=docker_gwbridge",
		"--opt", "com.docker.network.bridge.enable_icc=false",
		"--opt", "com.docker.network.bridge.enable_ip_masquerade=true",
		"docker_gwbridge")
	t.Cleanup(func() {
		// Task sandboxes leave the bridge a moment after the swarm.
		for i := 0; i < 50; i++ {
			if exec.Command("docker", "network", "rm", "docker_gwbridge").Run() == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("docker_gwbridge could not be removed")
	})
	docker(t, "swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377",
		"--default-addr-pool", pool, "--default-addr-pool-mask-length", "24")
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
			t.Errorf("docker swarm leave: %v: %s", err, out)
		}
	})

	sfx := randHex(3)
	net, svc := "e2e-ov-"+sfx, "e2esw"+sfx
	docker(t, "network", "create", "--driver", "overlay", "--attachable", "--subnet", overlay, net)
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", net).Run() })
	docker(t, "service", "create", "--detach", "--name", svc, "--replicas", "2", "--network", net,
		"--hostname", "{{.Service.Name}}-{{.Task.Slot}}", "--container-label", label,
		"--mount", "type=bind,src=/usr,dst=/usr,readonly",
		image, "erl", "-sname", "app", "-setcookie", cookie, "-noshell", "-noinput")
	t.Cleanup(func() { _ = exec.Command("docker", "service", "rm", svc).Run() })

	tasks := waitTasks(t, svc, 2)
	for _, id := range tasks {
		waitRegistered(t, id, "app")
	}
	host := svc + "-1"
	id := ""
	for _, tid := range tasks {
		if docker(t, "inspect", "-f", "{{.Config.Hostname}}", tid) == host {
			id = tid
		}
	}
	if id == "" {
		t.Fatalf("no task of %s has the hostname %s", svc, host)
	}
	gw := gatewayOf(t, id)

	a := startAdmin(t, []string{"EPMD_DOCKER_MODE="})
	want := "{ok,{" + strings.ReplaceAll(gw, ".", ",") + "}}"
	if got := a.Eval(fmt.Sprintf("epmd_docker:resolve(%q)", host), 10*time.Second); got != want {
		t.Fatalf("resolve %s (templated hostname): got %s, want %s, its docker_gwbridge address", host, got, want)
	}
	node := "app@" + host
	if got := a.Connect(node); got != "true" {
		t.Fatalf("connect_node(%s): got %s, want true\n%s", node, got, a.Output())
	}
	if got := a.RPCNode(node); got != atom(node) {
		t.Fatalf("rpc node(): got %s, want %s", got, atom(node))
	}

	// A plain container on the attachable overlay: the same.
	att := startNode(t, nodeSpec{DockerArgs: []string{"--network", net, "--hostname", "att" + sfx}})
	want = "{ok,{" + strings.ReplaceAll(gatewayOf(t, att.ID), ".", ",") + "}}"
	if got := a.Eval(fmt.Sprintf("epmd_docker:resolve(%q)", att.Hostname), 10*time.Second); got != want {
		t.Fatalf("resolve %s (docker run --network %s): got %s, want %s, its docker_gwbridge address", att.Hostname, net, got, want)
	}
	if got := a.Connect(att.Node); got != "true" {
		t.Fatalf("connect_node(%s): got %s, want true\n%s", att.Node, got, a.Output())
	}

	// The service name: ambiguous with two replicas, naming both tasks.
	got := a.Eval(fmt.Sprintf("epmd_docker:resolve(%q)", svc), 10*time.Second)
	if !strings.HasPrefix(got, "{error,{ambiguous,") || strings.Count(got, svc+".") != 2 {
		t.Fatalf("resolve %s (the service, 2 replicas): got %s, want ambiguous naming both tasks", svc, got)
	}
	if got := a.Connect("app@" + svc); got != "false" {
		t.Fatalf("connect_node(app@%s): got %s, want false", svc, got)
	}
	out, err := exec.Command(filepath.Join(root, "priv", "epmd-docker"), "resolve", svc).CombinedOutput()
	if err == nil || strings.Count(string(out), svc+".") != 2 {
		t.Errorf("epmd-docker resolve %s: %v, want an error naming both tasks:\n%s", svc, err, out)
	}

	// A name no container here answers to is looked for among the
	// swarm's tasks on other nodes (there are none), then resolved as
	// usual.
	if got := a.Eval(`epmd_docker:resolve("nosuchtask-`+sfx+`")`, 10*time.Second); !strings.HasPrefix(got, "{error,") {
		t.Errorf("resolve of an unknown name on a swarm manager: got %s, want an error", got)
	}

	// One replica left: the service name means its task, which runs
	// here, and no other node runs one.
	docker(t, "service", "scale", "--detach", svc+"=1")
	tasks = waitTasks(t, svc, 1)
	want = "{ok,{" + strings.ReplaceAll(gatewayOf(t, tasks[0]), ".", ",") + "}}"
	waitEval(t, a, fmt.Sprintf("epmd_docker:resolve(%q)", svc), 20*time.Second, func(s string) bool { return s == want })
}

// gatewayOf is container id's address on docker_gwbridge, as the daemon
// lists it (the gateway_SANDBOX endpoint).
func gatewayOf(t *testing.T, id string) string {
	t.Helper()
	gw := docker(t, "network", "inspect", "docker_gwbridge", "--format", `{{range $id, $c := .Containers}}{{if eq $id "`+id+`"}}{{$c.IPv4Address}}{{end}}{{end}}`)
	gw, _, _ = strings.Cut(gw, "/")
	if gw == "" {
		t.Fatalf("task container %.12s has no docker_gwbridge endpoint", id)
	}
	return gw
}

// waitTasks waits until service svc runs n task containers here, and
// returns their IDs.
func waitTasks(t *testing.T, svc string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ids := strings.Fields(docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+svc))
		if len(ids) == n {
			return ids
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("docker", "service", "ps", "--no-trunc", svc).CombinedOutput()
			t.Fatalf("service %s runs %d containers, want %d:\n%s", svc, len(ids), n, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// rejectOffMachine installs REJECT rules for the subnets on the default
// route's interface, for this host's own packets and forwarded ones, and
// removes them when the test ends: whatever dials there must not leave.
func rejectOffMachine(t *testing.T, subnets ...string) {
	t.Helper()
	out, err := exec.Command("ip", "route", "show", "default").Output()
	must(t, err)
	f := strings.Fields(string(out))
	dev := ""
	for i := range f {
		if f[i] == "dev" && i+1 < len(f) {
			dev = f[i+1]
		}
	}
	if dev == "" {
		t.Fatalf("no default route interface in %q", out)
	}
	for _, s := range subnets {
		for _, chain := range []string{"OUTPUT", "FORWARD"} {
			rule := []string{chain, "-d", s, "-o", dev, "-j", "REJECT"}
			if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
				t.Fatalf("iptables -I %v: %v: %s", rule, err, out)
			}
			t.Cleanup(func() {
				if out, err := exec.Command("iptables", append([]string{"-D"}, rule...)...).CombinedOutput(); err != nil {
					t.Errorf("iptables -D %v: %v: %s", rule, err, out)
				}
			})
		}
	}
}
