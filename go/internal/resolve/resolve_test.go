package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// A small world covering every name form and network rule.
var (
	cWeb = fc{id: hexID("a1b2c3d4e5f6"), name: "web", hostname: "custom", domain: "example.org",
		labels: map[string]string{ComposeServiceLabel: "api"},
		nets:   []fn{{name: "bridge", ip4: "172.17.0.2"}}}
	// db looks like API 1.41 on a user-defined network: the daemon adds
	// the short ID and the hostname to the aliases.
	cDB = fc{id: hexID("b2c3d4e5f6a7"), name: "db", hostname: "b2c3d4e5f6a7",
		nets: []fn{
			{name: "bridge", ip4: "172.17.0.3"},
			{name: "app", ip4: "172.18.0.3", aliases: []string{"svc", "b2c3d4e5f6a7", "Pg"}},
		}}
	cDup1 = fc{id: hexID("c1"), name: "dup1", hostname: "dup", nets: []fn{{name: "bridge", ip4: "172.17.0.4"}}}
	cDup2 = fc{id: hexID("c2"), name: "dup2", hostname: "dup", nets: []fn{{name: "bridge", ip4: "172.17.0.5"}}}
	cHost = fc{id: hexID("d1"), name: "hostnet", hostname: "hn", mode: "host", nets: []fn{{name: "host"}}}
	// multi looks like API 1.44: DNSNames, and IPv6 on one network.
	cMulti = fc{id: hexID("e1"), name: "multi", hostname: "m6",
		nets: []fn{
			{name: "zeta", ip4: "10.0.2.5", ip6: "fd00::5", dns: []string{"multi", "e10000000000", "m6", "only-zeta"}},
			{name: "alpha", ip4: "10.0.1.5", dns: []string{"multi", "e10000000000", "m6"}},
		}}
	cNone = fc{id: hexID("f1"), name: "isolated", hostname: "iso", mode: "none", nets: []fn{{name: "none"}}}
	// sidecar shares db's network stack, and so its hostname.
	cJoined = fc{id: hexID("f2"), name: "sidecar", hostname: "b2c3d4e5f6a7", mode: "container:" + hexID("b2c3d4e5f6a7")}
	cPaused = fc{id: hexID("f3"), name: "sleepy", hostname: "sleepy", state: "paused", nets: []fn{{name: "bridge", ip4: "172.17.0.9"}}}
	// cClash's hostname is web's name.
	cClash = fc{id: hexID("f4"), name: "clash", hostname: "Web2", nets: []fn{{name: "bridge", ip4: "172.17.0.10"}}}

	world = []fc{cWeb, cDB, cDup1, cDup2, cHost, cMulti, cNone, cJoined, cPaused, cClash}
)

func TestLookup(t *testing.T) {
	tests := []struct {
		host      string
		fam       wire.Family
		preferred string
		want      string // address; "" when an error is wanted
		network   string
		forms     []Form
		err       error    // wanted sentinel
		ambiguous []string // wanted candidates
	}{
		{host: "web", want: "172.17.0.2", network: "bridge", forms: []Form{FormName}},
		{host: "WEB.", want: "172.17.0.2", network: "bridge", forms: []Form{FormName}},
		{host: "custom", want: "172.17.0.2", network: "bridge", forms: []Form{FormHostname}},
		{host: "custom.example.org", want: "172.17.0.2", network: "bridge", forms: []Form{FormFQDN}},
		{host: "api", want: "172.17.0.2", network: "bridge", forms: []Form{FormService}},
		{host: hexID("a1b2c3d4e5f6"), want: "172.17.0.2", network: "bridge", forms: []Form{FormID}},
		{host: "a1b2", want: "172.17.0.2", network: "bridge", forms: []Form{FormIDPrefix}},
		{host: "A1B2C3", want: "172.17.0.2", network: "bridge", forms: []Form{FormIDPrefix}},
		{host: "a1b", err: wire.ErrNotFound}, // too short to be a prefix
		{host: "nosuch", err: wire.ErrNotFound},
		{host: "web", fam: wire.Inet6, err: wire.ErrNoAddress},

		// Default hostname: also an ID prefix and, on 1.41, an alias of
		// app. Not network-scoped, so all networks count, by name.
		{host: "b2c3d4e5f6a7", want: "172.18.0.3", network: "app", forms: []Form{FormHostname, FormIDPrefix, FormAlias}},
		{host: "b2c3d4e5f6a7", preferred: "bridge", want: "172.17.0.3", network: "bridge", forms: []Form{FormHostname, FormIDPrefix, FormAlias}},
		{host: "db", preferred: "nosuchnet", want: "172.18.0.3", network: "app", forms: []Form{FormName}},
		// A plain alias is scoped to its network, preferred or not.
		{host: "svc", want: "172.18.0.3", network: "app", forms: []Form{FormAlias}},
		{host: "svc", preferred: "bridge", want: "172.18.0.3", network: "app", forms: []Form{FormAlias}},
		{host: "pg", want: "172.18.0.3", network: "app", forms: []Form{FormAlias}},

		{host: "dup", err: nil, ambiguous: []string{"dup1 (c10000000000)", "dup2 (c20000000000)"}},

		{host: "hn", want: "127.0.0.1", network: "host", forms: []Form{FormHostname}},
		{host: "hostnet", fam: wire.Inet6, want: "::1", network: "host", forms: []Form{FormName}},

		// 1.44 DNSNames, IPv6 on one network only.
		{host: "multi", want: "10.0.1.5", network: "alpha", forms: []Form{FormName, FormDNSName}},
		{host: "multi", preferred: "zeta", want: "10.0.2.5", network: "zeta", forms: []Form{FormName, FormDNSName}},
		{host: "multi", fam: wire.Inet6, want: "fd00::5", network: "zeta", forms: []Form{FormName, FormDNSName}},
		{host: "m6", fam: wire.Inet6, preferred: "alpha", want: "fd00::5", network: "zeta", forms: []Form{FormHostname, FormDNSName}},
		{host: "only-zeta", want: "10.0.2.5", network: "zeta", forms: []Form{FormDNSName}},
		{host: "only-zeta", preferred: "alpha", want: "10.0.2.5", network: "zeta", forms: []Form{FormDNSName}},

		{host: "isolated", err: wire.ErrNoAddress},
		{host: "sidecar", want: "172.18.0.3", network: "app", forms: []Form{FormName}},
		{host: "sleepy", err: wire.ErrNotFound}, // paused
		{host: "web2", want: "172.17.0.10", network: "bridge", forms: []Form{FormHostname}},
	}
	for _, tt := range tests {
		fam := tt.fam
		if fam == 0 {
			fam = wire.Inet
		}
		name := fmt.Sprintf("%s/%v/%s", tt.host, fam, tt.preferred)
		t.Run(name, func(t *testing.T) {
			r := New(newFake(world...), Config{Network: tt.preferred})
			m, err := r.Lookup(context.Background(), tt.host, fam)
			if tt.ambiguous != nil {
				var amb *wire.AmbiguousError
				if !errors.As(err, &amb) {
					t.Fatalf("got %v, %v; want an AmbiguousError", m.Addr, err)
				}
				if amb.Host != tt.host || !slices.Equal(amb.Candidates, tt.ambiguous) {
					t.Fatalf("got %q %q, want %q %q", amb.Host, amb.Candidates, tt.host, tt.ambiguous)
				}
				return
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, %v; want error %v", m.Addr, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s", err, tt.want)
			}
			if m.Addr != netip.MustParseAddr(tt.want) || m.Network != tt.network || !slices.Equal(m.Forms, tt.forms) {
				t.Fatalf("got %v on %q by %v, want %s on %q by %v", m.Addr, m.Network, m.Forms, tt.want, tt.network, tt.forms)
			}
			if m.Container.Addr != m.Addr || m.Container.ID == "" || m.Container.Name == "" {
				t.Fatalf("got container %+v", m.Container)
			}
			// Reported as Docker spells them: a node's name has
			// its hostname's case.
			for _, c := range world {
				if c.id == m.Container.ID && (c.name != m.Container.Name || c.hostname != m.Container.Hostname) {
					t.Fatalf("got container %+v, want name %q hostname %q", m.Container, c.name, c.hostname)
				}
			}
		})
	}
}

func TestLookupAmbiguousAcrossForms(t *testing.T) {
	// One container's hostname is another's name: both answer to "web".
	clash := cClash
	clash.hostname = "web"
	r := New(newFake(cWeb, clash), Config{})
	_, err := r.Resolve(context.Background(), "web", wire.Inet)
	var amb *wire.AmbiguousError
	if !errors.As(err, &amb) || !slices.Equal(amb.Candidates, []string{"clash (f40000000000)", "web (a1b2c3d4e5f6)"}) {
		t.Fatalf("got %v, want ambiguity between clash and web", err)
	}
}

func TestLookupBadInput(t *testing.T) {
	r := New(newFake(world...), Config{})
	if _, err := r.Resolve(context.Background(), ".", wire.Inet); !errors.Is(err, wire.ErrBadHost) {
		t.Errorf("empty host: got %v, want ErrBadHost", err)
	}
	if _, err := r.Resolve(context.Background(), "web", 0); !errors.Is(err, wire.ErrBadRequest) {
		t.Errorf("family 0: got %v, want ErrBadRequest", err)
	}
}

func TestList(t *testing.T) {
	r := New(newFake(world...), Config{Network: "bridge"})
	got, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, addr string }{
		{"clash", "172.17.0.10"}, {"db", "172.17.0.3"}, {"dup1", "172.17.0.4"}, {"dup2", "172.17.0.5"},
		{"hostnet", "127.0.0.1"}, {"isolated", ""}, {"multi", "10.0.1.5"}, {"sidecar", "172.17.0.3"}, {"web", "172.17.0.2"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d containers %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		var addr string
		if got[i].Addr.IsValid() {
			addr = got[i].Addr.String()
		}
		if got[i].Name != w.name || addr != w.addr {
			t.Errorf("got %s %q, want %s %q", got[i].Name, addr, w.name, w.addr)
		}
	}
}

func TestNoCacheWithoutWatch(t *testing.T) {
	f := newFake(world...)
	r := New(f, Config{})
	for range 3 {
		if _, err := r.Resolve(context.Background(), "web", wire.Inet); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.lists.Load(); n != 3 {
		t.Fatalf("got %d lists, want 3: no event stream, no cache", n)
	}
}

func TestCacheHitAndInvalidation(t *testing.T) {
	f := newFake(world...)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	watch(t, r, f)
	ctx := context.Background()

	resolve := func(host, want string) {
		t.Helper()
		a, err := r.Resolve(ctx, host, wire.Inet)
		if err != nil || a.String() != want {
			t.Fatalf("resolve %s: got %v, %v; want %s", host, a, err, want)
		}
	}
	resolve("web", "172.17.0.2")
	resolve("web", "172.17.0.2")
	resolve("WEB.", "172.17.0.2") // same key once normalized
	if n := f.lists.Load(); n != 1 {
		t.Fatalf("got %d lists, want 1", n)
	}
	if _, err := r.Resolve(ctx, "later", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}

	// web restarts with a new address and another container appears;
	// the cached answers are now both wrong until the event arrives.
	web := cWeb
	web.nets = []fn{{name: "bridge", ip4: "172.17.0.99", epid: "new"}}
	later := fc{id: hexID("99"), name: "later", hostname: "later", nets: []fn{{name: "bridge", ip4: "172.17.0.50"}}}
	f.set(append(slices.Clone(world[1:]), web, later)...)
	resolve("web", "172.17.0.2")
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: web.id})
	eventually(t, func() bool {
		a, err := r.Resolve(ctx, "web", wire.Inet)
		return err == nil && a.String() == "172.17.0.99"
	})
	resolve("later", "172.17.0.50")
}

func TestNegativeTTL(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: 100 * time.Millisecond})
	watch(t, r, f)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "late", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
	// Appears without an event (as if it were missed): the negative
	// answer holds for NegativeTTL, then expires.
	f.set(cWeb, fc{id: hexID("77"), name: "late", nets: []fn{{name: "bridge", ip4: "172.17.0.7"}}})
	if _, err := r.Resolve(ctx, "late", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("got %v, want the cached not found", err)
	}
	time.Sleep(150 * time.Millisecond)
	if a, err := r.Resolve(ctx, "late", wire.Inet); err != nil || a.String() != "172.17.0.7" {
		t.Fatalf("got %v, %v; want 172.17.0.7 once the negative answer expired", a, err)
	}
}

func TestErrorsNotCached(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	// Failing from the start, so that no container set is made.
	f.mu.Lock()
	f.listErr = fmt.Errorf("list containers: %w: boom", wire.ErrUnavailable)
	f.mu.Unlock()
	watch(t, r, f)
	if _, err := r.Resolve(context.Background(), "web", wire.Inet); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("got %v, want unavailable", err)
	}
	f.mu.Lock()
	f.listErr = nil
	f.mu.Unlock()
	if a, err := r.Resolve(context.Background(), "web", wire.Inet); err != nil || a.String() != "172.17.0.2" {
		t.Fatalf("got %v, %v; want 172.17.0.2 at once", a, err)
	}
}

func TestCachingDisabled(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: -1, NegativeTTL: -1})
	watch(t, r, f)
	settle(t, r) // the round that opening the stream starts
	before := f.lists.Load()
	for range 2 {
		r.Resolve(context.Background(), "web", wire.Inet)
		r.Resolve(context.Background(), "nosuch", wire.Inet)
	}
	if n := f.lists.Load() - before; n != 4 {
		t.Fatalf("got %d lists, want 4", n)
	}
}

func TestInspectOnlyNewContainers(t *testing.T) {
	var cs []fc
	for i := range 20 {
		cs = append(cs, fc{id: hexID(fmt.Sprintf("aa%02d", i)), name: fmt.Sprintf("n%d", i), hostname: fmt.Sprintf("h%d", i),
			nets: []fn{{name: "bridge", ip4: fmt.Sprintf("172.17.1.%d", i+1)}}})
	}
	f := newFake(cs...)
	r := New(f, Config{TTL: -1, NegativeTTL: -1}) // every lookup a miss
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "h3", wire.Inet); err != nil {
		t.Fatal(err)
	}
	if n := f.inspects.Load(); n != 20 {
		t.Fatalf("cold: got %d inspects, want 20", n)
	}
	if _, err := r.Resolve(ctx, "h4", wire.Inet); err != nil {
		t.Fatal(err)
	}
	if n := f.inspects.Load(); n != 20 {
		t.Fatalf("warm: got %d inspects, want still 20", n)
	}
	// One container gets a new endpoint (reconnected, or restarted):
	// only it is inspected again, and its new alias counts.
	cs[5].nets = []fn{{name: "bridge", ip4: "172.17.1.6"}, {name: "app", ip4: "172.18.1.6", aliases: []string{"five"}}}
	f.set(cs...)
	if a, err := r.Resolve(ctx, "five", wire.Inet); err != nil || a.String() != "172.18.1.6" {
		t.Fatalf("got %v, %v; want 172.18.1.6", a, err)
	}
	if n := f.inspects.Load(); n != 21 {
		t.Fatalf("after reconnect: got %d inspects, want 21", n)
	}
}

func TestStaleAliasNotLent(t *testing.T) {
	// Cached inspect results say "svc" is an alias on app; the list now
	// shows a different endpoint on app, and the fresh inspect lacks it.
	f := newFake(cDB)
	r := New(f, Config{})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "svc", wire.Inet); err != nil {
		t.Fatal(err)
	}
	db := cDB
	db.nets = []fn{{name: "bridge", ip4: "172.17.0.3"}, {name: "app", ip4: "172.18.0.8", epid: "reconnected"}}
	f.set(db)
	if _, err := r.Resolve(ctx, "svc", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("got %v, want not found once the alias is gone", err)
	}
}

func TestRoundStartedBeforeEventNotCached(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour})
	watch(t, r, f)
	// No container set: this is about rounds.
	settle(t, r)
	r.invalidate("", true)
	lists := f.lists.Load()
	gate := make(chan struct{})
	f.mu.Lock()
	f.listGate = gate
	f.mu.Unlock()

	done := make(chan error)
	go func() {
		_, err := r.Resolve(context.Background(), "web", wire.Inet)
		done <- err
	}()
	eventually(t, func() bool { return f.lists.Load() == lists+1 })
	// The list is in flight; an event arrives before it returns.
	f.emit(t, docker.Event{Type: "container", Action: "die", ContainerID: cWeb.id})
	eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.flight == nil })
	f.mu.Lock()
	f.listGate = nil
	f.mu.Unlock()
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := r.answers.Get(key{"web", wire.Inet}); ok {
		t.Fatal("an answer from a list older than the last event was cached")
	}
}

func TestStreamLoss(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour})
	watch(t, r, f)
	ctx := context.Background()
	r.Resolve(ctx, "web", wire.Inet)
	r.Resolve(ctx, "web", wire.Inet)
	if n := f.lists.Load(); n != 1 {
		t.Fatalf("got %d lists, want 1", n)
	}

	// The daemon goes away, and subscriptions keep failing for a while.
	f.mu.Lock()
	f.subErr = fmt.Errorf("%w: gone", wire.ErrUnavailable)
	f.mu.Unlock()
	start := time.Now()
	f.current.Load().errs <- fmt.Errorf("%w: stream closed", wire.ErrUnavailable)
	eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return !r.live })
	for range 3 { // after 100, 100+200 and 100+200+400 ms
		waitSub(t, f)
	}
	if d := time.Since(start); d < 650*time.Millisecond || d > 3*time.Second {
		t.Errorf("three subscriptions took %v, want about 700ms of backoff", d)
	}
	// No stream, no cache: every lookup asks.
	before := f.lists.Load()
	r.Resolve(ctx, "web", wire.Inet)
	r.Resolve(ctx, "web", wire.Inet)
	if n := f.lists.Load() - before; n != 2 {
		t.Fatalf("got %d lists while down, want 2", n)
	}

	// Back: resubscribed, purged, caching again.
	f.mu.Lock()
	f.subErr = nil
	f.mu.Unlock()
	waitSub(t, f)
	waitLive(t, r)
	settle(t, r) // the round that starts with the stream
	before = f.lists.Load()
	r.Resolve(ctx, "web", wire.Inet)
	r.Resolve(ctx, "custom", wire.Inet)
	if n := f.lists.Load() - before; n != 0 {
		t.Fatalf("got %d lists once back, want 0: the container set is back", n)
	}
}

func TestConcurrentMissesShareOneList(t *testing.T) {
	f := newFake(world...)
	f.listDelay = 50 * time.Millisecond
	r := New(f, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := []string{"web", "db", "svc", "multi"}[i%4]
			_, err := r.Resolve(context.Background(), host, wire.Inet)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.lists.Load(); n > 2 {
		t.Fatalf("got %d lists for 20 concurrent misses, want 1 (2 at worst)", n)
	}
}

func TestStuckInspectDoesNotHoldUpARound(t *testing.T) {
	f := newFake(cWeb, cDB)
	f.inspectStuck = map[string]bool{cDB.id: true}
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	watch(t, r, f)
	ctx := context.Background()
	start := time.Now()
	// db is matched by the list alone: by name and ID prefix (its
	// default hostname), not by its alias.
	for _, host := range []string{"custom", "db", "b2c3d4e5f6a7"} {
		if _, err := r.Resolve(ctx, host, wire.Inet); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
	}
	if _, err := r.Resolve(ctx, "svc", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("svc: got %v, want not found while db's inspect is stuck", err)
	}
	if d := time.Since(start); d > 3*inspectTimeout {
		t.Fatalf("took %v, want about one inspect timeout", d)
	}
	// Nothing from a partial round is kept: once db is through (an
	// event says so), its alias resolves at once.
	f.mu.Lock()
	f.inspectStuck = nil
	f.mu.Unlock()
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: cDB.id})
	handled(t, r, 1)
	if a, err := r.Resolve(ctx, "svc", wire.Inet); err != nil || a.String() != "172.18.0.3" {
		t.Fatalf("svc: got %v, %v", a, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.view == nil {
		t.Fatal("no container set once every inspect answered")
	}
}

func TestLookupHonoursDeadline(t *testing.T) {
	f := newFake(cWeb)
	f.listGate = make(chan struct{}) // never answers
	defer close(f.listGate)
	r := New(f, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Resolve(ctx, "web", wire.Inet)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v, want a deadline error after 50ms", err, time.Since(start))
	}
	if wire.ReasonOf(err) != wire.ReasonTimeout {
		t.Fatalf("got reason %v, want timeout", wire.ReasonOf(err))
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		network, ttl, nttl string
		want               Config
		bad                bool
	}{
		{want: Config{}},
		{network: "app", ttl: "10m", nttl: "500ms", want: Config{Network: "app", TTL: 10 * time.Minute, NegativeTTL: 500 * time.Millisecond}},
		{ttl: "0", nttl: "0s", want: Config{TTL: -1, NegativeTTL: -1}},
		{ttl: "30", bad: true},
		{nttl: "-1s", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.network+"/"+tt.ttl+"/"+tt.nttl, func(t *testing.T) {
			t.Setenv(EnvNetwork, tt.network)
			t.Setenv(EnvTTL, tt.ttl)
			t.Setenv(EnvNegativeTTL, tt.nttl)
			got, err := ConfigFromEnv()
			if tt.bad {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// eventually polls cond for up to 5 s: events reach the resolver
// asynchronously.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkMissInMemory is the resolver's own share of a miss: one list
// from a fake that answers at once, then matching among 20 containers.
func BenchmarkMissInMemory(b *testing.B) {
	var cs []fc
	for i := range 20 {
		cs = append(cs, fc{id: hexID(fmt.Sprintf("aa%02d", i)), name: fmt.Sprintf("n%d", i), hostname: fmt.Sprintf("h%d", i),
			nets: []fn{{name: "bridge", ip4: fmt.Sprintf("172.17.1.%d", i+1)}}})
	}
	r := New(newFake(cs...), Config{TTL: -1, NegativeTTL: -1})
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.Resolve(ctx, "h7", wire.Inet); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHit is a cached answer.
func BenchmarkHit(b *testing.B) {
	f := newFake(world...)
	r := New(f, Config{})
	r.live = true // as if Watch had a stream open
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "web", wire.Inet); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Resolve(ctx, "web", wire.Inet); err != nil {
			b.Fatal(err)
		}
	}
}
