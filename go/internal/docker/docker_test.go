package docker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/dockertest"

	"github.com/docker/docker/api"
	"github.com/docker/docker/api/types/versions"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

func TestUnreachable(t *testing.T) {
	for _, host := range []string{"unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"} {
		t.Run(host, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", host)
			c, err := New()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			calls := map[string]func() error{
				"list":    func() error { _, err := c.ListRunning(ctx); return err },
				"inspect": func() error { _, err := c.Inspect(ctx, "x"); return err },
				"ping":    func() error { return c.Ping(ctx) },
				"version": func() error { _, err := c.ServerVersion(ctx); return err },
				"events": func() error {
					_, errs := c.Events(ctx)
					select {
					case err := <-errs: // already there: no waiting
						return err
					default:
						return errors.New("events: no error ready on return")
					}
				},
			}
			for name, call := range calls {
				start := time.Now()
				err := call()
				// Refused connections must fail fast, well before
				// any deadline a caller would give.
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Errorf("%s: took %v, want a fast failure", name, d)
				}
				if !errors.Is(err, wire.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", name, err)
					continue
				}
				if !strings.Contains(err.Error(), "cannot connect to the docker daemon at "+host) {
					t.Errorf("%s: got %q, want a message naming the daemon address", name, err)
				}
			}
		})
	}
}

func TestDeadlineIsNotUnavailable(t *testing.T) {
	c := dockertest.Require(t, New)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	_, err := c.ListRunning(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("got %v, want a deadline error only", err)
	}
}

func TestAgainstDaemon(t *testing.T) {
	c := dockertest.Require(t, New)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := c.ServerVersion(ctx)
	if err != nil || v.APIVersion == "" || v.Version == "" {
		t.Fatalf("got %+v, %v", v, err)
	}
	// Negotiation brings the client down to an older daemon's version.
	if versions.LessThan(v.APIVersion, api.DefaultVersion) && c.APIVersion() != v.APIVersion {
		t.Errorf("negotiated %s, daemon speaks %s", c.APIVersion(), v.APIVersion)
	}
	t.Logf("daemon %s, API %s, client speaks %s", v.Version, v.APIVersion, c.APIVersion())

	events, errs := c.Events(ctx)

	u := dockertest.Unique(t)
	net := dockertest.CreateNetwork(t, u+"-net", "10.252.4.0/24")
	id := dockertest.RunContainer(t, "--name", u+"-c", "--hostname", "hc", "--domainname", "example.org",
		"--network", net, "--network-alias", "svc", "--label", "com.docker.compose.service=api")

	list, err := c.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(x Container) bool { return x.ID == id })
	if i < 0 {
		t.Fatalf("container %s not listed", id)
	}
	got := list[i]
	if got.Name != u+"-c" || got.State != "running" || got.Labels["com.docker.compose.service"] != "api" || got.NetworkMode != net {
		t.Errorf("got %+v", got)
	}
	ep, ok := got.Networks[net]
	if !ok || !ep.IPv4.IsValid() || ep.EndpointID == "" {
		t.Errorf("got endpoint %+v on %s", ep, net)
	}

	d, err := c.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != id || d.Name != u+"-c" || d.Hostname != "hc" || d.Domainname != "example.org" || !d.Running ||
		d.Labels["com.docker.compose.service"] != "api" || d.NetworkMode != got.NetworkMode {
		t.Errorf("got %+v", d)
	}
	dep := d.Networks[net]
	if dep.EndpointID != ep.EndpointID || dep.IPv4 != ep.IPv4 || !slices.Contains(dep.Aliases, "svc") {
		t.Errorf("got inspect endpoint %+v, list endpoint %+v", dep, ep)
	}

	if _, err := c.Inspect(ctx, strings.Repeat("0", 64)); !errors.Is(err, wire.ErrNotFound) {
		t.Errorf("inspect of no container: got %v, want ErrNotFound", err)
	}

	dockertest.CLI(t, "network", "disconnect", net, id)
	dockertest.CLI(t, "stop", "-t", "0", id)
	want := map[string]bool{"network/disconnect": false, "container/die": false, "container/stop": false}
	for !want["network/disconnect"] || !want["container/die"] || !want["container/stop"] {
		select {
		case ev := <-events:
			if ev.ContainerID == id {
				want[ev.Type+"/"+ev.Action] = true
			}
		case err := <-errs:
			t.Fatalf("event stream: %v", err)
		case <-ctx.Done():
			t.Fatalf("events seen: %v", want)
		}
	}

	cancel()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v after cancel, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("event stream did not end with its context")
	}
}
