package resolve

// Tests against the real Docker daemon of the environment. They skip, saying
// why, when it cannot be reached; in CI it runs.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/dockertest"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

func TestDaemonFailFast(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	c, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := New(c, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, nil) // failing and retrying meanwhile

	ctx, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	for _, host := range []string{"web", "web", "other"} {
		start := time.Now()
		_, err = r.Resolve(ctx, host, wire.Inet)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("took %v, want milliseconds", d)
		}
		if !errors.Is(err, wire.ErrUnavailable) || wire.ReasonOf(err) != wire.ReasonDockerUnavailable {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	}
	t.Logf("error reads: %v", err)
}

func TestDaemonNames(t *testing.T) {
	c := dockertest.Require(t, docker.New)
	r := New(c, Config{TTL: time.Minute})
	watchDaemon(t, r)
	u := dockertest.Unique(t)

	net := dockertest.CreateNetwork(t, u+"-net", "10.252.1.0/24")
	plain := dockertest.RunContainer(t)
	web := dockertest.RunContainer(t, "--name", u+"-web", "--hostname", u+"-custom")
	svc := dockertest.RunContainer(t, "--name", u+"-svc", "--network", net, "--network-alias", u+"-alias")
	api := dockertest.RunContainer(t, "--name", u+"-api", "--label", "com.docker.compose.service="+u+"-api-svc")
	dup1 := dockertest.RunContainer(t, "--name", u+"-dup1", "--hostname", u+"-dup")
	dup2 := dockertest.RunContainer(t, "--name", u+"-dup2", "--hostname", u+"-dup")
	stopped := dockertest.RunContainer(t, "--name", u+"-stopped")
	dockertest.CLI(t, "stop", "-t", "0", stopped)
	dockertest.RunContainer(t, "--name", u+"-hostnet", "--network", "host")
	// A debugging sidecar on web's network stack inherits its hostname.
	dockertest.RunContainer(t, "--name", u+"-sidecar", "--network", "container:"+web)

	tests := []struct {
		host    string
		want    netip.Addr
		network string
		err     error
	}{
		{host: plain[:12], want: ipOn(t, plain, "bridge"), network: "bridge"},
		{host: plain, want: ipOn(t, plain, "bridge"), network: "bridge"},
		{host: u + "-custom", want: ipOn(t, web, "bridge"), network: "bridge"},
		{host: strings.ToUpper(u) + "-CUSTOM.", want: ipOn(t, web, "bridge"), network: "bridge"},
		{host: u + "-web", want: ipOn(t, web, "bridge"), network: "bridge"},
		{host: u + "-sidecar", want: ipOn(t, web, "bridge"), network: "bridge"},
		{host: u + "-alias", want: ipOn(t, svc, net), network: net},
		{host: svc[:12], want: ipOn(t, svc, net), network: net}, // hostname, and an alias on 1.41
		{host: u + "-api-svc", want: ipOn(t, api, "bridge"), network: "bridge"},
		{host: u + "-hostnet", want: netip.MustParseAddr("127.0.0.1"), network: "host"},
		{host: u + "-stopped", err: wire.ErrNotFound},
		{host: stopped[:12], err: wire.ErrNotFound},
		{host: u + "-nosuch", err: wire.ErrNotFound},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range tests {
		m, err := r.Lookup(ctx, tt.host, wire.Inet)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: got %v, %v; want %v", tt.host, m.Addr, err, tt.err)
			}
			continue
		}
		if err != nil || m.Addr != tt.want || m.Network != tt.network {
			t.Errorf("%s: got %v on %q (%v), want %v on %q", tt.host, m.Addr, m.Network, err, tt.want, tt.network)
		}
	}

	_, err := r.Resolve(ctx, u+"-dup", wire.Inet)
	var amb *wire.AmbiguousError
	want := []string{u + "-dup1 (" + dup1[:12] + ")", u + "-dup2 (" + dup2[:12] + ")"}
	if !errors.As(err, &amb) || !slices.Equal(amb.Candidates, want) {
		t.Errorf("got %v, want ambiguity between %q", err, want)
	}
	if _, err := r.Resolve(ctx, u+"-web", wire.Inet6); !errors.Is(err, wire.ErrNoAddress) {
		t.Errorf("inet6 on a network without IPv6: got %v, want ErrNoAddress", err)
	}

	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(c wire.Container) bool { return c.ID == web })
	if i < 0 || list[i].Name != u+"-web" || list[i].Hostname != u+"-custom" || list[i].Addr != ipOn(t, web, "bridge") {
		t.Errorf("web in list: got %+v", list)
	}
	if slices.ContainsFunc(list, func(c wire.Container) bool { return c.ID == stopped }) {
		t.Error("stopped container listed")
	}
}

func TestDaemonEventInvalidation(t *testing.T) {
	c := dockertest.Require(t, docker.New)
	// A TTL far beyond the test: only an event can explain a new answer.
	r := New(c, Config{TTL: 10 * time.Minute, NegativeTTL: 10 * time.Minute})
	watchDaemon(t, r)
	u := dockertest.Unique(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// On a network of its own, so that containers of tests running at the
	// same time (other packages) cannot take the addresses this test
	// moves its containers between.
	moves := dockertest.CreateNetwork(t, u+"-moves", "10.252.5.0/28")
	x := dockertest.RunContainer(t, "--network", moves, "--name", u+"-x")
	old := ipOn(t, x, moves)
	if a, err := r.Resolve(ctx, u+"-x", wire.Inet); err != nil || a != old {
		t.Fatalf("got %v, %v; want %v", a, err, old)
	}

	dockertest.CLI(t, "stop", "-t", "0", x)
	eventuallyResolves(t, r, u+"-x", netip.Addr{}, wire.ErrNotFound)

	// y takes x's old address while x is down; x comes back elsewhere.
	y := dockertest.RunContainer(t, "--network", moves, "--name", u+"-y")
	dockertest.CLI(t, "start", x)
	now := ipOn(t, x, moves)
	if now == old {
		t.Fatalf("x came back at its old address %v; the test needs it to move", old)
	}
	if ipOn(t, y, moves) != old {
		t.Logf("y did not take x's old address %v (got %v); still checking x", old, ipOn(t, y, moves))
	}
	eventuallyResolves(t, r, u+"-x", now, nil)
	eventuallyResolves(t, r, u+"-y", ipOn(t, y, moves), nil)

	// docker restart, the other way to move.
	dockertest.CLI(t, "stop", "-t", "0", y)
	dockertest.RunContainer(t, "--network", moves, "--name", u+"-z")
	dockertest.CLI(t, "start", y)
	eventuallyResolves(t, r, u+"-y", ipOn(t, y, moves), nil)
	dockertest.CLI(t, "restart", "-t", "0", x)
	eventuallyResolves(t, r, u+"-x", ipOn(t, x, moves), nil)

	// Network connect brings a new alias; rename a new name.
	net := dockertest.CreateNetwork(t, u+"-net", "10.252.2.0/24")
	dockertest.CLI(t, "network", "connect", "--alias", u+"-later", net, x)
	eventuallyResolves(t, r, u+"-later", ipOn(t, x, net), nil)
	dockertest.CLI(t, "rename", x, u+"-renamed")
	eventuallyResolves(t, r, u+"-renamed", netip.Addr{}, nil)
	eventuallyResolves(t, r, u+"-x", netip.Addr{}, wire.ErrNotFound)

	// Meanwhile, stable names were served from the cache.
	before := countLists(r)
	for range 10 {
		r.Resolve(ctx, u+"-renamed", wire.Inet)
	}
	if n := countLists(r) - before; n != 0 {
		t.Errorf("got %d lists for 10 cached lookups, want 0", n)
	}
}

// TestDaemonMissCost measures what the package comment promises: a miss
// with a container set is memory, a miss that must run a round is about one
// container list, a hit is memory.
func TestDaemonMissCost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 containers")
	}
	c := dockertest.Require(t, docker.New)
	u := dockertest.Unique(t)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = dockertest.RunContainer(t, "--name", fmt.Sprintf("%s-%d", u, i))
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	r := New(c, Config{TTL: time.Hour})
	watchDaemon(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host := u + "-7"

	start := time.Now()
	if _, err := r.Resolve(ctx, host, wire.Inet); err != nil {
		t.Fatal(err)
	}
	cold := time.Since(start)

	settle(t, r)
	setMisses := measure(200, func() {
		r.invalidate("", false) // answers gone, container set kept
		if _, err := r.Resolve(ctx, host, wire.Inet); err != nil {
			t.Fatal(err)
		}
	})
	misses := measure(200, func() {
		// Answers and container set gone, inspects kept: a round.
		r.mu.Lock()
		r.invalidateLocked("", false)
		r.view = nil
		r.mu.Unlock()
		if _, err := r.Resolve(ctx, host, wire.Inet); err != nil {
			t.Fatal(err)
		}
	})
	hits := measure(10000, func() {
		if _, err := r.Resolve(ctx, host, wire.Inet); err != nil {
			t.Fatal(err)
		}
	})
	// The floor: the list request alone.
	lists := measure(200, func() {
		if _, err := c.ListRunning(ctx); err != nil {
			t.Fatal(err)
		}
	})
	q := func(d []time.Duration, p int) time.Duration { return d[len(d)*p/100] }
	t.Logf("%d containers of ours running: first lookup %v; miss from the set median %v p99 %v; "+
		"miss with a round median %v p90 %v; bare list median %v p90 %v; hit median %v p99 %v",
		len(ids), cold, q(setMisses, 50), q(setMisses, 99), q(misses, 50), q(misses, 90),
		q(lists, 50), q(lists, 90), q(hits, 50), q(hits, 99))
	// Loose bounds, relative to the bare list where they can be: CI
	// machines are slow and busy, but N inspects per miss, or a list
	// where the set should answer, would still show.
	if m, l := q(misses, 50), q(lists, 50); m > 2*l+5*time.Millisecond {
		t.Errorf("median miss with a round %v, bare list %v: want about one list", m, l)
	}
	if m := setMisses[len(setMisses)/2]; m > time.Millisecond {
		t.Errorf("median miss from the set %v, want microseconds", m)
	}
}

// TestDaemonCandidateFromInspect checks that an inspect alone, as a patch
// after an event uses it, describes a container as the list and inspect
// together do.
func TestDaemonCandidateFromInspect(t *testing.T) {
	c := dockertest.Require(t, docker.New)
	u := dockertest.Unique(t)
	net := dockertest.CreateNetwork(t, u+"-net", "10.252.3.0/24")
	a := dockertest.RunContainer(t, "--name", u+"-a", "--hostname", "ha", "--domainname", "example.org",
		"--network", net, "--network-alias", u+"-alias", "--label", ComposeServiceLabel+"=svc")
	dockertest.CLI(t, "network", "connect", "bridge", a)
	dockertest.RunContainer(t, "--name", u+"-b", "--network", "container:"+a)
	dockertest.RunContainer(t, "--name", u+"-h", "--network", "host")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	list, err := c.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, ct := range list {
		if !strings.HasPrefix(ct.Name, u) {
			continue
		}
		seen++
		d, err := c.Inspect(ctx, ct.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, want := candidateOf(d), newCandidate(ct, d)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: from inspect %+v, from list and inspect %+v", ct.Name, got, want)
		}
	}
	if seen != 3 {
		t.Fatalf("saw %d of our 3 containers", seen)
	}
}

func measure(n int, f func()) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		s := time.Now()
		f()
		d[i] = time.Since(s)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

// countLists counts the list requests the resolver has made.
func countLists(r *Resolver) int64 {
	return r.rounds.Load()
}

func eventuallyResolves(t *testing.T, r *Resolver, host string, want netip.Addr, wantErr error) {
	t.Helper()
	// Events arrive asynchronously, a little after the docker command
	// returns; a few seconds is still far inside any TTL used here.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := r.Resolve(ctx, host, wire.Inet)
		cancel()
		ok := wantErr == nil && err == nil && (!want.IsValid() || a == want)
		ok = ok || wantErr != nil && errors.Is(err, wantErr)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %v, %v; want %v %v", host, a, err, want, wantErr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// watchDaemon runs r.Watch until the test ends, and waits until the stream
// is open.
func watchDaemon(t *testing.T, r *Resolver) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitLive(t, r)
}

// ipOn is the IPv4 address of container id on network net, as docker
// inspect tells it.
func ipOn(t *testing.T, id, net string) netip.Addr {
	t.Helper()
	s := dockertest.CLI(t, "inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", net), id)
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("address of %s on %s: %q", id, net, s)
	}
	return a
}
