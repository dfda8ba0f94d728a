package resolve

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// patched starts watching f with a resolver, waits for the first round,
// and then sends an event for every container of the world, so that every
// entry of the container set has been rebuilt from an inspect alone.
func patched(t *testing.T, f *fakeAPI, cfg Config) *Resolver {
	t.Helper()
	r := New(f, cfg)
	watch(t, r, f)
	settle(t, r)
	for _, c := range world {
		f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: c.id})
	}
	handled(t, r, int64(len(world)))
	patchesDone(t, r, int64(len(world)))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.view == nil {
		t.Fatal("no container set after the patches")
	}
	return r
}

func TestSetAnswersAsRoundsDo(t *testing.T) {
	type q struct {
		host      string
		fam       wire.Family
		preferred string
	}
	var qs []q
	for _, h := range []string{"web", "WEB.", "custom", "custom.example.org", "api", hexID("a1b2c3d4e5f6"), "a1b2", "A1B2C3",
		"a1b", "nosuch", "b2c3d4e5f6a7", "db", "svc", "pg", "dup", "hn", "hostnet", "multi", "m6", "only-zeta",
		"isolated", "sidecar", "sleepy", "web2"} {
		for _, fam := range []wire.Family{wire.Inet, wire.Inet6} {
			for _, pref := range []string{"", "bridge", "zeta", "alpha"} {
				qs = append(qs, q{h, fam, pref})
			}
		}
	}
	ctx := context.Background()
	for _, pref := range []string{"", "bridge", "zeta", "alpha"} {
		f := newFake(world...)
		r := patched(t, f, Config{Network: pref, TTL: time.Hour, NegativeTTL: -1})
		plain := New(newFake(world...), Config{Network: pref, TTL: -1, NegativeTTL: -1})
		for _, q := range qs {
			if q.preferred != pref {
				continue
			}
			lists := f.lists.Load()
			got, gotErr := r.Lookup(ctx, q.host, q.fam)
			want, wantErr := plain.Lookup(ctx, q.host, q.fam)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s/%v/%s: from the set got %+v, %v; a round gives %+v, %v", q.host, q.fam, pref, got, gotErr, want, wantErr)
			}
			if n := f.lists.Load() - lists; gotErr == nil && n != 0 {
				t.Errorf("%s/%v/%s: found with %d lists, want 0", q.host, q.fam, pref, n)
			}
		}
	}
}

func TestEventsPatchTheSet(t *testing.T) {
	f := newFake(cWeb, cDB, cJoined)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	watch(t, r, f)
	settle(t, r)
	ctx := context.Background()
	resolve := func(host, want string) {
		t.Helper()
		a, err := r.Resolve(ctx, host, wire.Inet)
		if err != nil || a.String() != want {
			t.Fatalf("resolve %s: got %v, %v; want %s", host, a, err, want)
		}
	}
	resolve("web", "172.17.0.2")
	resolve("sidecar", "172.18.0.3")
	lists, inspects := f.lists.Load(), f.inspects.Load()

	// A new container, a moved one, and one whose stack another shares.
	later := fc{id: hexID("99"), name: "later", hostname: "later", labels: map[string]string{ComposeServiceLabel: "worker"},
		nets: []fn{{name: "bridge", ip4: "172.17.0.50"}}}
	web := cWeb
	web.nets = []fn{{name: "bridge", ip4: "172.17.0.99", epid: "new"}}
	db := cDB
	db.nets = []fn{{name: "app", ip4: "172.18.0.33", epid: "new", aliases: []string{"svc"}}}
	f.set(web, db, cJoined, later)
	for _, id := range []string{later.id, web.id, db.id} {
		f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: id})
	}
	patchesDone(t, r, 3)
	resolve("later", "172.17.0.50")
	resolve("worker", "172.17.0.50")
	resolve("web", "172.17.0.99")
	resolve("custom", "172.17.0.99")
	resolve("svc", "172.18.0.33")
	resolve("sidecar", "172.18.0.33")
	if n := f.lists.Load() - lists; n != 0 {
		t.Errorf("got %d lists, want 0: events patch the set", n)
	}
	if n := f.inspects.Load() - inspects; n != 3 {
		t.Errorf("got %d inspects, want 3: one per event", n)
	}

	// web stops: out of the set. Its name is then checked with a list.
	f.set(db, cJoined, later)
	f.emit(t, docker.Event{Type: "container", Action: "die", ContainerID: web.id})
	patchesDone(t, r, 4)
	if _, err := r.Resolve(ctx, "web", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
	if n := f.lists.Load() - lists; n != 1 {
		t.Errorf("got %d lists, want 1: not found is checked with a round", n)
	}
}

func TestLookupsDoNotWaitForPatches(t *testing.T) {
	f := newFake(cWeb, cDB)
	r := New(f, Config{TTL: time.Hour})
	watch(t, r, f)
	settle(t, r)
	ctx := context.Background()
	gate := make(chan struct{})
	f.mu.Lock()
	f.inspectGate = gate // as the daemon holds up the inspect of a container in transition
	f.mu.Unlock()
	lists := f.lists.Load()

	// web moves; its event is in, its patch is held up.
	web := cWeb
	web.nets = []fn{{name: "bridge", ip4: "172.17.0.99", epid: "new"}}
	f.set(web, cDB)
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: web.id})
	handled(t, r, 1)
	r.mu.Lock()
	_, in := r.view.base[web.id]
	r.mu.Unlock()
	if in {
		t.Fatal("web is still in the set after its event")
	}
	// Other containers are answered from the set meanwhile.
	start := time.Now()
	if a, err := r.Resolve(ctx, "db", wire.Inet); err != nil || a.String() != "172.18.0.3" {
		t.Fatalf("got %v, %v", a, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v while a patch was held up", d)
	}
	if n := f.lists.Load() - lists; n != 0 {
		t.Fatalf("got %d lists, want 0", n)
	}

	f.mu.Lock()
	f.inspectGate = nil
	f.mu.Unlock()
	close(gate)
	patchesDone(t, r, 1)
	if a, err := r.Resolve(ctx, "custom", wire.Inet); err != nil || a.String() != "172.17.0.99" {
		t.Fatalf("got %v, %v; want the patched 172.17.0.99", a, err)
	}
	if n := f.lists.Load() - lists; n != 0 {
		t.Fatalf("got %d lists once patched, want 0", n)
	}
}

func TestPatchInspectsAgainAfterANewerEvent(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour})
	watch(t, r, f)
	settle(t, r)
	gate := make(chan struct{})
	f.mu.Lock()
	f.inspectGate = gate
	f.mu.Unlock()
	inspects := f.inspects.Load()

	// An inspect is under way when web moves again: its answer may be
	// older than the second event, so the patch asks once more.
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: cWeb.id})
	eventually(t, func() bool { return f.inspects.Load() == inspects+1 })
	web := cWeb
	web.nets = []fn{{name: "bridge", ip4: "172.17.0.77", epid: "again"}}
	f.set(web)
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: cWeb.id})
	handled(t, r, 2)
	f.mu.Lock()
	f.inspectGate = nil
	f.mu.Unlock()
	close(gate)
	patchesDone(t, r, 1) // one patch, two inspects
	if n := f.inspects.Load() - inspects; n != 2 {
		t.Fatalf("got %d inspects, want 2", n)
	}
	if a, err := r.Resolve(context.Background(), "custom", wire.Inet); err != nil || a.String() != "172.17.0.77" {
		t.Fatalf("got %v, %v; want 172.17.0.77", a, err)
	}
}

func TestRoundDuringEventsRenewsSet(t *testing.T) {
	f := newFake(cWeb, cDB)
	r := New(f, Config{TTL: time.Hour})
	watch(t, r, f)
	settle(t, r)
	r.mu.Lock()
	before := r.view.expires
	r.mu.Unlock()

	// A round lists, and its answer is held back; meanwhile web moves
	// and db stops, and their events are patched into the set.
	gate := make(chan struct{})
	f.mu.Lock()
	f.listGate = gate
	f.mu.Unlock()
	lists := f.lists.Load()
	rd := refresh(r)
	eventually(t, func() bool { return f.lists.Load() == lists+1 })
	web := cWeb
	web.nets = []fn{{name: "bridge", ip4: "172.17.0.99", epid: "new"}}
	f.set(web)
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: web.id})
	f.emit(t, docker.Event{Type: "container", Action: "die", ContainerID: cDB.id})
	patchesDone(t, r, 2)
	f.mu.Lock()
	f.listGate = nil
	f.mu.Unlock()
	close(gate)
	<-rd.done

	// The round's list said web at .2 and db running: the set keeps
	// what the events said instead, and is renewed.
	r.mu.Lock()
	v := r.view
	r.mu.Unlock()
	if v == nil || !v.expires.After(before) {
		t.Fatal("the round did not renew the container set")
	}
	ctx := context.Background()
	if a, err := r.Resolve(ctx, "custom", wire.Inet); err != nil || a.String() != "172.17.0.99" {
		t.Fatalf("got %v, %v; want 172.17.0.99", a, err)
	}
	if _, ok := v.base[cDB.id]; ok {
		t.Fatal("db is in the set after its die event")
	}
	if n := f.lists.Load() - lists; n != 1 {
		t.Fatalf("got %d lists, want only the round's", n)
	}
}

func TestRoundAfterUnnamedEventNotInstalled(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour})
	watch(t, r, f)
	settle(t, r)
	gate := make(chan struct{})
	f.mu.Lock()
	f.listGate = gate
	f.mu.Unlock()
	lists := f.lists.Load()
	rd := refresh(r)
	eventually(t, func() bool { return f.lists.Load() == lists+1 })
	// An event that names no container (none the daemon sends; a
	// network destroyed is let through): the set is dropped, and the
	// round cannot be brought up to date either.
	f.emit(t, docker.Event{Type: "network", Action: "destroy"})
	handled(t, r, 1)
	r.mu.Lock()
	kept := r.view != nil
	r.mu.Unlock()
	if !kept {
		t.Fatal("a network destroyed dropped the container set")
	}
	f.emit(t, docker.Event{Type: "container", Action: "start"})
	handled(t, r, 2)
	f.mu.Lock()
	f.listGate = nil
	f.mu.Unlock()
	close(gate)
	<-rd.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.view != nil {
		t.Fatal("a round older than an event naming no container became the set")
	}
}

func TestFailedPatchLeavesContainerOut(t *testing.T) {
	f := newFake(cWeb, cDB)
	r := New(f, Config{TTL: time.Hour})
	watch(t, r, f)
	settle(t, r)
	ctx := context.Background()
	f.mu.Lock()
	f.inspectErr = fmt.Errorf("inspect: %w: boom", wire.ErrUnavailable)
	f.mu.Unlock()
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: cWeb.id})
	patchesDone(t, r, 1)
	f.mu.Lock()
	f.inspectErr = nil
	f.mu.Unlock()

	lists := f.lists.Load()
	if _, err := r.Resolve(ctx, "db", wire.Inet); err != nil {
		t.Fatal(err)
	}
	if n := f.lists.Load() - lists; n != 0 {
		t.Fatalf("got %d lists for db, want 0: the rest of the set stands", n)
	}
	if a, err := r.Resolve(ctx, "custom", wire.Inet); err != nil || a.String() != "172.17.0.2" {
		t.Fatalf("got %v, %v", a, err)
	}
	if n := f.lists.Load() - lists; n != 1 {
		t.Fatalf("got %d lists for web, want 1: it is out of the set", n)
	}
}

func TestSetRenewedAndExpires(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: 200 * time.Millisecond})
	watch(t, r, f)
	// Renewed every TTL/2 while the stream is open.
	eventually(t, func() bool { return f.lists.Load() >= 3 })

	// Lists start failing: the set ages out after the TTL, and is not
	// trusted after that.
	f.mu.Lock()
	f.listErr = fmt.Errorf("list containers: %w: boom", wire.ErrUnavailable)
	f.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	if _, err := r.Resolve(context.Background(), "custom", wire.Inet); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("got %v, want unavailable: a set older than the TTL must not answer", err)
	}
}

// handled waits until r has handled n events in all.
func handled(t *testing.T, r *Resolver, n int64) {
	t.Helper()
	eventually(t, func() bool { return r.handled.Load() >= n })
}

// refresh starts a round as the resync timer does, and returns it.
func refresh(r *Resolver) *round {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.startLocked(context.Background())
}

// patchesDone waits until r has finished n patches in all.
func patchesDone(t *testing.T, r *Resolver, n int64) {
	t.Helper()
	eventually(t, func() bool { return r.patched.Load() >= n })
}

func TestPeek(t *testing.T) {
	f := newFake(cWeb, cDB)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	peek := func(host string, wantOK bool, want string, wantErr error) {
		t.Helper()
		m, ok, err := r.Peek(host, wire.Inet)
		a := m.Addr
		if ok != wantOK || (want != "" && a.String() != want) || !errors.Is(err, wantErr) {
			t.Fatalf("Peek(%s): got %v, %v, %v; want %v, %q, %v", host, a, ok, err, wantOK, want, wantErr)
		}
	}
	// No stream: nothing in memory may be trusted, except that a bad
	// name is bad.
	peek("web", false, "", nil)
	peek("", true, "", wire.ErrBadHost)

	watch(t, r, f)
	settle(t, r)
	lists := f.lists.Load()
	peek("web", true, "172.17.0.2", nil)    // from the set
	peek("custom", true, "172.17.0.2", nil) // likewise
	peek("nosuch", false, "", nil)          // only a round can say
	if _, err := r.Resolve(context.Background(), "nosuch", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatal(err)
	}
	peek("nosuch", true, "", wire.ErrNotFound) // now cached
	if n := f.lists.Load() - lists; n != 1 {
		t.Fatalf("got %d lists, want only Resolve's", n)
	}
}

func TestCachesExpireAtTheirTTL(t *testing.T) {
	// The LRUs hold entries for at least minSweptTTL; each entry still
	// expires at its own TTL.
	r := New(newFake(cWeb), Config{TTL: 50 * time.Millisecond, NegativeTTL: 50 * time.Millisecond})
	r.mu.Lock()
	r.live = true // as if Watch had a stream open
	r.mu.Unlock()
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "web", wire.Inet); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(ctx, "nosuch", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Fatal(err)
	}
	for _, host := range []string{"web", "nosuch"} {
		if _, ok, _ := r.Peek(host, wire.Inet); !ok {
			t.Fatalf("%s: not cached", host)
		}
	}
	time.Sleep(80 * time.Millisecond)
	for _, host := range []string{"web", "nosuch"} {
		if m, ok, err := r.Peek(host, wire.Inet); ok {
			t.Fatalf("%s: got %v, %v from a cache older than its TTL", host, m.Addr, err)
		}
	}
}
