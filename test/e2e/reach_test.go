package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAutoReachesUnroutableContainers is colima, Lima, Rancher Desktop and
// Podman machine: the daemon reports a plain local Linux engine, but this
// host does not reach its container addresses. With no setting, the admin
// node must find that out (a probe of the container's address) and dial
// the published distribution port instead.
//
// The admin node and its helper run in a network namespace with only a
// veth link to the host (see netnsLink): no route to any Docker network,
// while the Docker API socket stays reachable.
func TestAutoReachesUnroutableContainers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	realErl, err := exec.LookPath("erl")
	must(t, err)
	ns, hostIP := netnsLink(t)
	pub := startNode(t, nodeSpec{
		DockerArgs: []string{"-p", hostIP + "::9100"},
		Extra:      []string{"-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9100"},
	})
	hostPort := docker(t, "inspect", "-f", `{{(index (index .NetworkSettings.Ports "9100/tcp") 0).HostPort}}`, pub.ID)

	bin := t.TempDir()
	must(t, os.WriteFile(filepath.Join(bin, "erl"), []byte(fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, realErl)), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	a := startAdmin(t, []string{"EPMD_DOCKER_MODE="})
	want := fmt.Sprintf("{ok,{%s},%s}", strings.ReplaceAll(hostIP, ".", ","), hostPort)
	if got := a.Eval(fmt.Sprintf("epmd_docker:resolve(%q)", pub.Hostname), 10*time.Second); got != want {
		t.Fatalf("resolve %s in auto mode, container addresses unreachable: got %s, want %s\n%s", pub.Hostname, got, want, a.Output())
	}
	if got := a.Connect(pub.Node); got != "true" {
		t.Fatalf("connect %s: got %s, want true\n%s", pub.Node, got, a.Output())
	}
	if got, want := a.RPCNode(pub.Node), atom(pub.Node); got != want {
		t.Fatalf("rpc node(): got %s, want %s", got, want)
	}

	// The commands decide the same way, and say why.
	helper := filepath.Join(root, "priv", "epmd-docker")
	cmd := exec.Command("ip", "netns", "exec", ns, helper, "resolve", pub.Hostname)
	cmd.Env = append(os.Environ(), "EPMD_DOCKER_MODE=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "not reachable from here") || !strings.Contains(string(out), hostIP+":"+hostPort) {
		t.Errorf("epmd-docker resolve %s in the namespace: %v\n%s", pub.Hostname, err, out)
	}
	cmd = exec.Command("ip", "netns", "exec", ns, helper, "doctor", "--json")
	cmd.Env = append(os.Environ(), "EPMD_DOCKER_MODE=")
	out, _ = cmd.Output()
	var doc struct {
		Checks []struct{ Name, Status, Detail, Fix string }
	}
	must(t, json.Unmarshal(out, &doc))
	for _, c := range doc.Checks {
		// Other containers on this daemon may publish nothing, and fail
		// the check; this one must be reported reached, and the fix
		// must be about publishing, not routes.
		if c.Name == "container addresses" && (!strings.Contains(c.Detail, "published at "+hostIP+":"+hostPort) || strings.Contains(c.Fix, "no route")) {
			t.Errorf("doctor's container addresses check does not follow the decision: %+v", c)
		}
	}
}
