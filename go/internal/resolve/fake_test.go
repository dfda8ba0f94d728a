package resolve

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// fc describes a container of the fake daemon.
type fc struct {
	id, name, hostname, domain string
	labels                     map[string]string
	mode                       string // NetworkMode; "" means the first network's name
	state                      string // "" means running
	nets                       []fn
}

// fn is one network of an fc.
type fn struct {
	name, ip4, ip6 string
	aliases, dns   []string
	epid           string // "" means derived from container and network
}

// hexID pads s with zeros to a full 64-digit ID.
func hexID(s string) string { return s + strings.Repeat("0", 64-len(s)) }

func (c fc) endpoints(withNames bool) map[string]docker.Endpoint {
	m := map[string]docker.Endpoint{}
	for _, n := range c.nets {
		ep := docker.Endpoint{EndpointID: n.epid}
		if ep.EndpointID == "" {
			ep.EndpointID = c.id[:8] + "-" + n.name
		}
		if n.ip4 != "" {
			ep.IPv4 = netip.MustParseAddr(n.ip4)
		}
		if n.ip6 != "" {
			ep.IPv6 = netip.MustParseAddr(n.ip6)
		}
		if withNames {
			ep.Aliases, ep.DNSNames = n.aliases, n.dns
		}
		m[n.name] = ep
	}
	return m
}

func (c fc) netMode() string {
	switch {
	case c.mode != "":
		return c.mode
	case len(c.nets) > 0:
		return c.nets[0].name
	}
	return "none"
}

func (c fc) runState() string {
	if c.state == "" {
		return "running"
	}
	return c.state
}

// fakeAPI is an in-memory daemon. Its event streams are driven by the test.
type fakeAPI struct {
	mu         sync.Mutex
	containers []fc
	listErr    error
	listGate   chan struct{} // if set, ListRunning waits for it to close
	listDelay  time.Duration
	// If set, Inspect waits for inspectGate to close, then fails with
	// inspectErr if that is set.
	inspectGate chan struct{}
	inspectErr  error
	// Inspects of these containers answer only when their context ends,
	// as the daemon's do for a container that is stopping.
	inspectStuck map[string]bool

	lists, inspects atomic.Int64

	subs    chan *fakeStream // every subscription, for the test to drive
	current atomic.Pointer[fakeStream]
	subErr  error         // if set, subscriptions fail at once
	subGate chan struct{} // if set, Events waits for it to close
}

type fakeStream struct {
	events chan docker.Event
	errs   chan error
}

func newFake(cs ...fc) *fakeAPI {
	return &fakeAPI{containers: cs, subs: make(chan *fakeStream, 100)}
}

func (f *fakeAPI) set(cs ...fc) {
	f.mu.Lock()
	f.containers = cs
	f.mu.Unlock()
}

func (f *fakeAPI) ListRunning(ctx context.Context) ([]docker.Container, error) {
	f.lists.Add(1)
	f.mu.Lock()
	gate, delay, err := f.listGate, f.listDelay, f.listErr
	cs := append([]fc(nil), f.containers...)
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	time.Sleep(delay)
	if err != nil {
		return nil, err
	}
	var out []docker.Container
	for _, c := range cs {
		if c.runState() != "running" {
			continue // as the status=running filter does
		}
		labels := c.labels
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, docker.Container{ID: c.id, Name: c.name, State: "running", Labels: labels, NetworkMode: c.netMode(), Networks: c.endpoints(false)})
	}
	return out, nil
}

func (f *fakeAPI) Inspect(ctx context.Context, id string) (docker.Details, error) {
	f.inspects.Add(1)
	f.mu.Lock()
	gate, err, stuck := f.inspectGate, f.inspectErr, f.inspectStuck[id]
	f.mu.Unlock()
	if stuck {
		<-ctx.Done()
		return docker.Details{}, fmt.Errorf("inspect container %s: %w", id, ctx.Err())
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return docker.Details{}, ctx.Err()
		}
	}
	if err != nil {
		return docker.Details{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.id == id {
			labels := map[string]string{}
			for k, v := range c.labels {
				labels[k] = v
			}
			return docker.Details{ID: c.id, Name: c.name, Hostname: c.hostname, Domainname: c.domain,
				Running: c.runState() == "running", Labels: labels, NetworkMode: c.netMode(), Networks: c.endpoints(true)}, nil
		}
	}
	return docker.Details{}, fmt.Errorf("inspect container %s: %w", id, wire.ErrNotFound)
}

func (f *fakeAPI) Events(ctx context.Context) (<-chan docker.Event, <-chan error) {
	if f.subGate != nil {
		<-f.subGate
	}
	s := &fakeStream{events: make(chan docker.Event), errs: make(chan error, 1)}
	f.mu.Lock()
	if f.subErr != nil {
		s.errs <- f.subErr
	}
	f.mu.Unlock()
	f.current.Store(s)
	f.subs <- s
	return s.events, s.errs
}

// emit delivers an event on the current stream; it returns once the
// resolver has received it.
func (f *fakeAPI) emit(t *testing.T, ev docker.Event) {
	t.Helper()
	select {
	case f.current.Load().events <- ev:
	case <-time.After(5 * time.Second):
		t.Fatal("nobody reads the event stream")
	}
}

// watch runs r.Watch until the test ends and waits for its first
// subscription.
func watch(t *testing.T, r *Resolver, f *fakeAPI) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitSub(t, f)
	waitLive(t, r)
}

func waitSub(t *testing.T, f *fakeAPI) *fakeStream {
	t.Helper()
	select {
	case s := <-f.subs:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no event subscription")
		return nil
	}
}

// settle waits until no round is in flight, such as the one that starts
// when the stream opens.
func settle(t *testing.T, r *Resolver) {
	t.Helper()
	waitState(t, r, "no round in flight", func() bool { return r.flight == nil })
}

// waitLive waits until the resolver counts its stream as open (it says so
// right after subscribing).
func waitLive(t *testing.T, r *Resolver) {
	t.Helper()
	waitState(t, r, "the stream open", func() bool { return r.live })
}

// waitState waits up to 5 s until cond, called with r.mu held, is true.
func waitState(t *testing.T, r *Resolver, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
