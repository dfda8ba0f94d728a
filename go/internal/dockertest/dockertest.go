// Package dockertest is what the tests that run against the real Docker
// daemon share: the test image, the label on everything they create, and
// helpers that start containers and networks and remove them when the test
// ends. It imports nothing of this module, so that package docker's own
// tests can use it too.
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Image has an empty root file system: containers mount the host's /usr
// read-only for their programs (test/image.sh builds it).
const Image = "epmd-docker-test:latest"

// Label marks everything the tests create, for cleanup by hand.
const Label = "epmd-docker-test=1"

// SkipWithoutCLI skips the test when the docker CLI, which starts the test
// containers, or the test image is missing.
func SkipWithoutCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("skipping: the docker CLI, used to start test containers, is not installed")
	}
	if _, err := exec.Command("docker", "image", "inspect", Image).Output(); err != nil {
		t.Skipf("skipping: test image %s is missing", Image)
	}
}

// Daemon is a client of the Docker daemon: *docker.Client is one.
type Daemon interface {
	Ping(ctx context.Context) error
	Close() error
}

// Require returns a client made by connect for the daemon of the
// environment, closed when the test ends, or skips the test when there is
// no daemon to reach or the CLI or the test image is missing (see
// SkipWithoutCLI). connect is docker.New: this package does not import
// docker, so that docker's own tests can use it.
func Require[C Daemon](t *testing.T, connect func() (C, error)) C {
	t.Helper()
	c, err := connect()
	if err != nil {
		t.Skipf("no docker client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Skipf("skipping: no Docker daemon reachable (DOCKER_HOST=%q): %v", os.Getenv("DOCKER_HOST"), err)
	}
	SkipWithoutCLI(t)
	return c
}

// Unique is a prefix for the names a test creates, so that runs on a
// shared daemon do not collide.
func Unique(t *testing.T) string {
	var h uint32 = 2166136261
	for _, b := range []byte(t.Name()) {
		h = (h ^ uint32(b)) * 16777619
	}
	return fmt.Sprintf("edt-%d-%x", os.Getpid(), h)
}

// CLI runs the docker CLI and returns its trimmed output, failing the test
// on error or when it takes over a minute.
func CLI(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// RunContainer starts a sleeping container with the extra `docker run`
// options args, removed when the test ends, and returns its ID.
func RunContainer(t *testing.T, args ...string) string {
	t.Helper()
	all := append([]string{"run", "-d", "--label", Label, "-v", "/usr:/usr:ro"}, args...)
	all = append(all, Image, "sleep", "600")
	id := CLI(t, all...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	return id
}

// CreateNetwork creates a network on subnet, which no other test uses,
// removed when the test ends. Cleanups run last-registered first, so
// containers started after it are gone by then; one connected to it some
// other way is forced off first. The tests that use it only resolve
// names: nothing dials the network's addresses.
func CreateNetwork(t *testing.T, name, subnet string) string {
	t.Helper()
	CLI(t, "network", "create", "--label", Label, "--subnet", subnet, name)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "network", "inspect", "-f", "{{range $id, $_ := .Containers}}{{$id}} {{end}}", name).Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command("docker", "network", "disconnect", "-f", name, id).Run()
		}
		exec.Command("docker", "network", "rm", name).Run()
	})
	return name
}
