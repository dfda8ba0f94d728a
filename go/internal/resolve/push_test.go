package resolve

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// pushed is a push as the test saw it, with what the resolver answered
// for the names under test at the moment it was pushed.
type pushed struct {
	p       wire.Push
	answers map[string]string // host -> address or error reason
}

// watchPushing runs r.Watch with a push function that records every push,
// and resolves hosts inside it: whatever the resolver answers once it has
// pushed must already be the new state.
func watchPushing(t *testing.T, r *Resolver, f *fakeAPI, hosts ...string) <-chan pushed {
	t.Helper()
	ch := make(chan pushed, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Watch(ctx, func(p wire.Push) {
			got := pushed{p: p, answers: map[string]string{}}
			for _, h := range hosts {
				got.answers[h] = answerOf(r, h)
			}
			ch <- got
		})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitSub(t, f)
	return ch
}

// answerOf is what r answers for host now: an address, or a reason.
func answerOf(r *Resolver, host string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := r.Resolve(ctx, host, wire.Inet)
	if err != nil {
		return string(wire.ReasonOf(err))
	}
	return a.String()
}

// nextPush returns the next push, or fails after wait.
func nextPush(t *testing.T, ch <-chan pushed, wait time.Duration) pushed {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(wait):
		t.Fatalf("no push within %v", wait)
		return pushed{}
	}
}

func expectPush(t *testing.T, ch <-chan pushed, want wire.Push) pushed {
	t.Helper()
	got := nextPush(t, ch, 10*time.Second)
	if got.p.String() != want.String() {
		t.Fatalf("got push %v, want %v", got.p, want)
	}
	return got
}

func resolves(t *testing.T, r *Resolver, host, want string) {
	t.Helper()
	if got := answerOf(r, host); got != want {
		t.Fatalf("%s: got %s, want %s", host, got, want)
	}
}

// TestPushesFollowEvents: {stream, up} once subscribed and listed; an event
// that takes a container away invalidates exactly the names answered with
// it, one that may add a name invalidates all, each pushed only once the
// resolver's own answers are new; a broken stream is {stream, down}.
func TestPushesFollowEvents(t *testing.T) {
	f := newFake(cWeb, cDB)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	pushes := watchPushing(t, r, f, "web", "db")
	expectPush(t, pushes, wire.StreamUp())

	resolves(t, r, "web", "172.17.0.2")
	resolves(t, r, "custom", "172.17.0.2")
	resolves(t, r, "db", "172.18.0.3")

	f.set(cDB)
	f.emit(t, docker.Event{Type: "container", Action: "die", ContainerID: cWeb.id})
	got := expectPush(t, pushes, wire.Invalidate([]string{"custom", "web"}))
	if got.answers["web"] != "not_found" || got.answers["db"] != "172.18.0.3" {
		t.Errorf("answers when invalidated: got %v, want web not_found, db unchanged", got.answers)
	}

	// A new container may make any name ambiguous.
	moved := cWeb
	moved.nets = []fn{{name: "bridge", ip4: "172.17.0.9"}}
	f.set(cDB, moved)
	f.emit(t, docker.Event{Type: "container", Action: "start", ContainerID: cWeb.id})
	got = expectPush(t, pushes, wire.InvalidateAll())
	if got.answers["web"] != "172.17.0.9" {
		t.Errorf("web when invalidated: got %s, want its new address", got.answers["web"])
	}

	f.current.Load().errs <- fmt.Errorf("docker events: %w", wire.ErrUnavailable)
	expectPush(t, pushes, wire.StreamDown())
	waitSub(t, f)
	expectPush(t, pushes, wire.StreamUp())
}

// TestPushOnlyWhatWasAnswered: nothing answered, nothing to invalidate.
func TestPushOnlyWhatWasAnswered(t *testing.T) {
	f := newFake(cWeb, cDB)
	r := New(f, Config{TTL: time.Hour})
	pushes := watchPushing(t, r, f)
	expectPush(t, pushes, wire.StreamUp())
	resolves(t, r, "db", "172.18.0.3")
	f.set(cDB)
	f.emit(t, docker.Event{Type: "container", Action: "die", ContainerID: cWeb.id})
	handled(t, r, 1)
	f.set(cWeb)
	f.emit(t, docker.Event{Type: "container", Action: "die", ContainerID: cDB.id})
	expectPush(t, pushes, wire.Invalidate([]string{"db"}))
}

// TestStalledStream: the event stream stays open but falls silent while
// a container goes away. Within a resync (well under 5 s, against a TTL of
// an hour) the name is invalidated and no longer resolves; the stream is
// then counted as stalled: down, subscribed again, up.
func TestStalledStream(t *testing.T) {
	f := newFake(cWeb, cDB)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	pushes := watchPushing(t, r, f, "web")
	expectPush(t, pushes, wire.StreamUp())
	resolves(t, r, "web", "172.17.0.2")
	resolves(t, r, "db", "172.18.0.3")

	f.set(cDB) // and no event
	start := time.Now()
	got := expectPush(t, pushes, wire.Invalidate([]string{"web"}))
	t.Logf("invalidated %v after the change", time.Since(start))
	if got.answers["web"] != "not_found" {
		t.Errorf("web when invalidated: got %s, want not_found", got.answers["web"])
	}
	resolves(t, r, "web", "not_found")
	resolves(t, r, "db", "172.18.0.3")
	expectPush(t, pushes, wire.StreamDown())
	waitSub(t, f)
	expectPush(t, pushes, wire.StreamUp())
}

// TestStalledStreamWithoutPushes: the resolver's own answers, too, go stale
// for a resync at most when the stream falls silent.
func TestStalledStreamWithoutPushes(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	watch(t, r, f)
	resolves(t, r, "web", "172.17.0.2")
	f.set()
	eventually(t, func() bool { return answerOf(r, "web") == "not_found" })
}

// TestResyncFailureIsDown: a daemon that stops listing is not followed:
// {stream, down}.
func TestResyncFailureIsDown(t *testing.T) {
	f := newFake(cWeb)
	r := New(f, Config{TTL: time.Hour})
	pushes := watchPushing(t, r, f)
	expectPush(t, pushes, wire.StreamUp())
	f.mu.Lock()
	f.listErr = fmt.Errorf("list: %w", wire.ErrUnavailable)
	f.mu.Unlock()
	expectPush(t, pushes, wire.StreamDown())
}

// TestFirstLookupOneRound: a lookup that arrives while Watch is still
// opening its first event stream (in port mode, the lookup that ran the
// helper) waits for the subscription, and joins the round that the
// opening starts: one list, not two (before, the first answer waited for
// a round of its own while the opening's round listed and inspected
// everything again).
func TestFirstLookupOneRound(t *testing.T) {
	f := newFake(cWeb, cDB)
	f.subGate = make(chan struct{})
	r := New(f, Config{TTL: time.Hour, NegativeTTL: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// Watch has begun to subscribe; the fake holds the subscription
	// until the gate opens.
	waitState(t, r, "subscribing", func() bool { return r.opening != nil })
	got := make(chan string, 1)
	go func() {
		a, err := r.Resolve(context.Background(), "web", wire.Inet)
		got <- fmt.Sprint(a, " ", err)
	}()
	// Give the lookup time to start a round of its own, as it did.
	time.Sleep(50 * time.Millisecond)
	close(f.subGate)
	waitSub(t, f)
	if a := <-got; a != "172.17.0.2 <nil>" {
		t.Fatalf("resolve web = %s, want 172.17.0.2", a)
	}
	settle(t, r)
	if n := f.lists.Load(); n != 1 {
		t.Errorf("%d lists for the first lookup and the stream's opening, want 1", n)
	}
}
