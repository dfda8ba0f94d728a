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

// TestPublishedPorts reaches container nodes whose addresses are not
// routable, as on Docker Desktop, with rootless Docker or a remote daemon,
// through their published distribution ports.
//
// The admin node runs in a network namespace the test creates, linked to
// the host by a veth pair of its own (10.200.N.0/30) and nothing else: no
// route leads from it to the Docker networks, so container addresses are
// unreachable there, exactly as in those setups. The container publishes
// its distribution port on the host end of the link only (-p 10.200.N.1::9100).
// Traffic goes nowhere but over that link and to the test's containers.
func TestPublishedPorts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	realErl, err := exec.LookPath("erl")
	if err != nil {
		t.Fatal(err)
	}
	ns, hostIP := netnsLink(t)

	pub := startNode(t, nodeSpec{
		DockerArgs: []string{"-p", hostIP + "::9100"},
		Extra:      []string{"-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9100"},
	})
	bare := startNode(t, nodeSpec{})
	hostPort := docker(t, "inspect", "-f", `{{(index (index .NetworkSettings.Ports "9100/tcp") 0).HostPort}}`, pub.ID)

	// startAdmin runs "erl"; make that the erl inside the namespace.
	bin := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, realErl)
	if err := os.WriteFile(filepath.Join(bin, "erl"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	t.Run("direct is unreachable", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_MODE=direct"})
		if got := a.Connect(pub.Node); got != "false" {
			t.Fatalf("connect %s from the namespace in direct mode: got %s, want false (container addresses must be unreachable there)", pub.Node, got)
		}
	})

	t.Run("published", func(t *testing.T) {
		a := startAdmin(t, []string{"EPMD_DOCKER_MODE=published"})
		want := fmt.Sprintf("{ok,{%s},%s}", strings.ReplaceAll(hostIP, ".", ","), hostPort)
		if got := a.Eval(fmt.Sprintf("epmd_docker:resolve(%q)", pub.Hostname), 10*time.Second); got != want {
			t.Fatalf("resolve %s: got %s, want %s", pub.Hostname, got, want)
		}
		if got := a.Eval(fmt.Sprintf("epmd_docker:address_please(\"app\", %q, inet)", pub.Hostname), 10*time.Second); got != strings.TrimSuffix(want, "}")+",6}" {
			t.Fatalf("address_please %s: got %s, want a 4-tuple with version 6", pub.Hostname, got)
		}
		if got := a.Connect(pub.Node); got != "true" {
			t.Fatalf("connect %s: got %s, want true\noutput:\n%s", pub.Node, got, a.Output())
		}
		if got, want := a.RPCNode(pub.Node), atom(pub.Node); got != want {
			t.Fatalf("rpc node(): got %s, want %s", got, want)
		}

		// A container that publishes nothing: a clear error, no guess.
		if got := a.Eval(fmt.Sprintf("epmd_docker:resolve(%q)", bare.Hostname), 10*time.Second); got != "{error,not_published}" {
			t.Fatalf("resolve %s: got %s, want {error,not_published}", bare.Hostname, got)
		}
		if got := a.Connect(bare.Node); got != "false" {
			t.Fatalf("connect %s: got %s, want false", bare.Node, got)
		}
		// The logger's handler writes asynchronously: give the line a moment.
		deadline := time.Now().Add(5 * time.Second)
		for out := a.Output(); !strings.Contains(out, "publishes no distribution port") || !strings.Contains(out, "-p 127.0.0.1::9100"); out = a.Output() {
			if time.Now().After(deadline) {
				t.Fatalf("no log line saying how to publish the distribution port; output:\n%s", out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("remsh", func(t *testing.T) {
		// A terminal, as a person types into it (see
		// TestRemoteShellInTerminal); the command names the namespace
		// itself, since a tmux server may run with another PATH.
		args := adminArgs("-sname", "shell"+randHex(3), "-remsh", pub.Node)
		cmdline := "env EPMD_DOCKER_MODE=published ip netns exec " + ns + " " + realErl + " " + shellJoin(args)
		remshInTerminal(t, "e2e-pub-", cmdline, pub.Node, hostOTP.release(), 20*time.Second)
	})
}

// netnsLink creates a network namespace linked to the host by a veth pair
// on 10.200.N.0/30 (N random), host end .1, namespace end .2, with no other
// route, and removes both when the test ends. It returns the namespace and
// the host end's address.
func netnsLink(t *testing.T) (ns, hostIP string) {
	t.Helper()
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	n := int(b[0])%250 + 1
	tag := randHex(3)
	ns, vh, vn := "epd-"+tag, "epdh"+tag, "epdn"+tag
	hostIP = fmt.Sprintf("10.200.%d.1", n)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", vh, "type", "veth", "peer", "name", vn)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", vh).Run() })
	ip("link", "set", vn, "netns", ns)
	ip("addr", "add", hostIP+"/30", "dev", vh)
	ip("link", "set", vh, "up")
	ip("-n", ns, "addr", "add", fmt.Sprintf("10.200.%d.2/30", n), "dev", vn)
	ip("-n", ns, "link", "set", vn, "up")
	ip("-n", ns, "link", "set", "lo", "up")
	return ns, hostIP
}
