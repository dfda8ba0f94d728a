package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerContext reaches the daemon the way colima, OrbStack, Docker
// Desktop and Podman machine set it up: through the current docker
// context, with nothing at the default socket and no DOCKER_HOST.
//
// Every command of the test runs in a mount namespace of its own where
// /var/run/docker.sock is hidden (/dev/null is mounted over it) and the real
// socket is mounted at another path, which only the context names. docker
// ps works there through the context; epmd-docker must too.
func TestDockerContext(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	c := startNode(t, nodeSpec{})
	dir := t.TempDir()
	alt := filepath.Join(dir, "colima.sock")
	must(t, os.WriteFile(alt, nil, 0o600))
	cfg := filepath.Join(dir, "docker-config")
	must(t, os.Mkdir(cfg, 0o700))

	// hidden runs a command in the namespace: the socket moved to alt.
	hidden := filepath.Join(dir, "hidden")
	script := "#!/bin/sh\nexec unshare -m sh -c 'mount --bind /var/run/docker.sock \"$0\" && mount --bind /dev/null /var/run/docker.sock && exec \"$@\"' " + alt + " \"$@\"\n"
	must(t, os.WriteFile(hidden, []byte(script), 0o755))

	env := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_HOST=", "DOCKER_CONTEXT="}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(hidden, append([]string{name}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := run("docker", "context", "create", "e2e-ctx", "--docker", "host=unix://"+alt); err != nil {
		t.Fatalf("docker context create: %v: %s", err, out)
	}
	if out, err := run("docker", "context", "use", "e2e-ctx"); err != nil {
		t.Fatalf("docker context use: %v: %s", err, out)
	}
	// The set-up is what it claims: the default socket answers nothing,
	// the context does.
	if out, err := run("docker", "--context", "default", "ps"); err == nil {
		t.Fatalf("the default socket still answers in the namespace: %s", out)
	}
	if out, err := run("docker", "ps", "-q", "--no-trunc"); err != nil || !strings.Contains(out, c.ID) {
		t.Fatalf("docker ps through the context: %v: %s", err, out)
	}

	helper := filepath.Join(root, "priv", "epmd-docker")
	out, err := run(helper, "resolve", c.Hostname)
	if err != nil || !strings.Contains(out, strings.Fields(containerIP(t, c.ID))[0]) {
		t.Fatalf("epmd-docker resolve %s through the context: %v:\n%s", c.Hostname, err, out)
	}
	out, _ = run(helper, "doctor")
	if !strings.Contains(out, "unix://"+alt) || !strings.Contains(out, "context e2e-ctx (currentContext in "+filepath.Join(cfg, "config.json")+")") {
		t.Errorf("doctor does not name the context and where it came from:\n%s", out)
	}

	// DOCKER_CONTEXT wins over currentContext, as for the docker CLI.
	env = append(env, "DOCKER_CONTEXT=default")
	if out, err := run(helper, "resolve", c.Hostname); err == nil {
		t.Errorf("DOCKER_CONTEXT=default: resolve worked through the hidden default socket:\n%s", out)
	} else if !strings.Contains(out, "/var/run/docker.sock") {
		t.Errorf("DOCKER_CONTEXT=default: the error does not name the default socket:\n%s", out)
	}
	env = env[:len(env)-1]

	// An Erlang node in the namespace connects through epmd_docker.
	realErl, err := exec.LookPath("erl")
	must(t, err)
	bin := filepath.Join(dir, "bin")
	must(t, os.Mkdir(bin, 0o755))
	must(t, os.WriteFile(filepath.Join(bin, "erl"), []byte(fmt.Sprintf("#!/bin/sh\nexec %s %s \"$@\"\n", hidden, realErl)), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	a := startAdmin(t, env)
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) through the context: got %s, want true\n%s", c.Node, got, a.Output())
	}
	if got := a.RPCNode(c.Node); got != atom(c.Node) {
		t.Fatalf("rpc node(): got %s, want %s", got, atom(c.Node))
	}
}
