package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRabbitMQFromTheHost runs Debian's rabbitmq-server in a container of
// the test image (the host's /usr, read-only), and reaches it from the
// host with Debian's rabbitmqctl and rabbitmq-diagnostics, by its hostname,
// through epmd_docker: the README's recipe.
func TestRabbitMQFromTheHost(t *testing.T) {
	const lib = "/usr/lib/rabbitmq/bin"
	if _, err := os.Stat(filepath.Join(lib, "rabbitmq-server")); err != nil {
		t.Fatalf("Debian's rabbitmq-server is not installed (test/setup.sh installs it): %v", err)
	}
	host := "rabbit-" + randHex(3)
	rcookie := "rabbit" + randHex(8)
	id := runContainer(t, image, hostUsr("--hostname", host, "-e", "C="+rcookie),
		"sh", "-c", `mkdir -p /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq; umask 077; printf %s "$C" > /root/.erlang.cookie; unset C; exec `+lib+`/rabbitmq-server`).ID
	deadline := time.Now().Add(3 * time.Minute)
	for {
		logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
		if strings.Contains(string(logs), "Starting broker... completed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker did not start; its log:\n%s", logs)
		}
		time.Sleep(500 * time.Millisecond)
	}

	home := t.TempDir()
	must(t, os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte(rcookie), 0o400))
	env := append(os.Environ(), "HOME="+home,
		"RABBITMQ_CTL_ERL_ARGS=-pa "+ebin+" -epmd_module epmd_docker -start_epmd false")
	run := func(tool string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(lib, tool), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	node := "rabbit@" + host
	if out := run("rabbitmqctl", "-n", node, "status"); !strings.Contains(out, "RabbitMQ version") {
		t.Errorf("rabbitmqctl status:\n%s", out)
	}
	if out := run("rabbitmq-diagnostics", "-n", node, "ping"); !strings.Contains(out, "Ping succeeded") {
		t.Errorf("rabbitmq-diagnostics ping:\n%s", out)
	}
	run("rabbitmqctl", "-n", node, "add_vhost", "from-the-host")
	if out := run("rabbitmqctl", "-n", node, "list_vhosts"); !strings.Contains(out, "from-the-host") {
		t.Errorf("rabbitmqctl list_vhosts after add_vhost:\n%s", out)
	}
}
