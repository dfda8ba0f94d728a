package resolve

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Pushes. While Watch runs with a push function, the resolver tells it,
// after its own state reflects a change, which of the answers it gave may
// now be wrong ({invalidate, [Host]}, or {invalidate, all} when it cannot
// tell), and whether it follows Docker's events at all ({stream, up} once
// subscribed and the container set is current, {stream, down} when the
// stream breaks, stalls, or the daemon is gone). See go/internal/wire.
//
// Which answers an event can change: one about container X that can only
// take names away from it (die, stop, kill, destroy, pause, disconnect)
// changes the answers that named X, and those of containers on X's network
// stack; every other (start, unpause, connect, rename, and any the resolver
// cannot tie to one container) may make a name ambiguous or point it
// elsewhere, so it invalidates all.
//
// A stream that stays open but falls silent delivers nothing to notice:
// every resyncEvery the resolver lists the containers (one round), answers
// every name it has given again against that list, and pushes the names
// whose answer changed. If any did and no event arrived meanwhile, the
// stream has missed events: it is restarted.
const (
	// resyncEvery bounds how long a missed event goes unnoticed: a stream
	// that stalls serves stale answers for at most this plus a list.
	resyncEvery = 3 * time.Second
	// resyncTimeout is how long a resync waits for its round: a daemon
	// that cannot list in that time is not followed closely enough to
	// vouch for answers, and the stream counts as down.
	resyncTimeout = 4 * time.Second
	// stallGrace is how long after finding a stale answer the resolver
	// waits for the event that explains it, before calling the stream
	// stalled: the list may have seen a change whose event is on its way.
	stallGrace = 500 * time.Millisecond
	// maxServed bounds the answers remembered for targeted pushes; past
	// it, the next change invalidates all.
	maxServed = 4096
	// maxQueuedPushes bounds the pushes not yet handed on; past it,
	// pending invalidations collapse into one of all.
	maxQueuedPushes = 256
)

// errStalled ends a stream that missed events.
var errStalled = errors.New("docker event stream stalled: a resync found changes no event reported")

// served is an answer given while the stream was up: the container it
// named, and at what address.
type served struct {
	id   string
	addr netip.Addr
}

// queued is a push waiting to be handed on.
type queued struct {
	p     wire.Push
	inval bool // an invalidation, which may be collapsed
}

// serveLocked records that m was given as the answer to k. r.mu must be
// held.
func (r *Resolver) serveLocked(k key, m Match) {
	if !r.live {
		return
	}
	if len(r.served) >= maxServed {
		r.servedLost = true
		return
	}
	r.served[k] = served{id: m.Container.ID, addr: m.Addr}
}

// serve is serveLocked, taking the lock.
func (r *Resolver) serve(k key, m Match) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serveLocked(k, m)
}

// pushLocked queues p for the push function. r.mu must be held.
func (r *Resolver) pushLocked(p wire.Push, inval bool) {
	if r.pushSig == nil {
		return // nobody to push to
	}
	if inval && len(r.pushQ) >= maxQueuedPushes {
		r.pushQ = slices.DeleteFunc(r.pushQ, func(q queued) bool { return q.inval })
		p = wire.InvalidateAll()
	}
	r.pushQ = append(r.pushQ, queued{p, inval})
	select {
	case r.pushSig <- struct{}{}:
	default:
	}
}

// invalidateAllLocked pushes {invalidate, all}, if anything was served.
// r.mu must be held.
func (r *Resolver) invalidateAllLocked() {
	if len(r.served) > 0 || r.servedLost {
		r.pushLocked(wire.InvalidateAll(), true)
	}
	clear(r.served)
	r.servedLost = false
}

// invalidateServedLocked pushes the invalidation of the hosts answered with
// a container in ids, or of all when that cannot be told. r.mu must be
// held.
func (r *Resolver) invalidateServedLocked(ids map[string]bool) {
	if r.servedLost {
		r.invalidateAllLocked()
		return
	}
	var hosts []string
	for k, s := range r.served {
		if ids[s.id] {
			hosts = append(hosts, k.host)
			delete(r.served, k)
		}
	}
	if len(hosts) > 0 {
		slices.Sort(hosts)
		r.pushLocked(wire.Invalidate(slices.Compact(hosts)), true)
	}
}

// narrowingActions are the container events that can only take names away
// from their container (see the comment at the top of this file).
var narrowingActions = map[string]bool{
	"die": true, "stop": true, "kill": true, "destroy": true, "pause": true, "disconnect": true,
}

// eventPushLocked pushes what the event ev about container id (lower-case)
// may have changed. It runs before the container leaves the set, so that
// the containers on its network stack can still be found. r.mu must be
// held.
func (r *Resolver) eventPushLocked(id, action string) {
	if id == "" || !narrowingActions[action] || r.view == nil {
		r.invalidateAllLocked()
		return
	}
	ids := map[string]bool{id: true}
	for _, c := range r.view.cands {
		if c.joins == id {
			ids[c.id] = true
		}
	}
	r.invalidateServedLocked(ids)
}

// streamLocked records and pushes whether the stream is followed: up only
// once per stream, down only after an up. r.mu must be held.
func (r *Resolver) streamLocked(up bool) {
	if up == r.announced {
		return
	}
	r.announced = up
	if up {
		r.pushLocked(wire.StreamUp(), false)
	} else {
		clear(r.served)
		r.servedLost = false
		r.pushLocked(wire.StreamDown(), false)
	}
}

// pushing hands queued pushes to push, in order, until ctx ends.
func (r *Resolver) pushing(ctx context.Context, push func(wire.Push)) {
	for {
		select {
		case <-r.pushSig:
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		q := r.pushQ
		r.pushQ = nil
		r.mu.Unlock()
		for _, p := range q {
			push(p.p)
		}
	}
}

// resync lists the containers and answers every name given since the
// stream came up again against the list (see the top of this file). It
// returns an error when the daemon did not list in time, or errStalled
// when the stream has missed events.
func (r *Resolver) resync(ctx context.Context) error {
	r.mu.Lock()
	handled := r.handled.Load()
	rd := r.startLocked(ctx)
	r.mu.Unlock()
	t := time.NewTimer(resyncTimeout)
	defer t.Stop()
	select {
	case <-rd.done:
	case <-t.C:
		return errors.New("docker did not list the containers within " + resyncTimeout.String())
	case <-ctx.Done():
		return ctx.Err()
	}
	if rd.err != nil {
		return rd.err
	}
	if rd.partial {
		return nil // names matched by the list alone prove nothing
	}
	// Events that came in meanwhile have had their say, and the next
	// resync will have a list that postdates them. The answers are
	// matched again without the lock: there may be thousands.
	r.mu.Lock()
	current := r.gen == rd.gen
	given := maps.Clone(r.served)
	r.mu.Unlock()
	if !current {
		return nil
	}
	changed := map[key]served{}
	for k, s := range given {
		m, err := r.answer(rd.cands, k, k.host)
		if err != nil || m.Container.ID != s.id || m.Addr != s.addr {
			changed[k] = s
		}
	}
	if len(changed) == 0 {
		return nil
	}
	r.mu.Lock()
	if r.gen != rd.gen {
		r.mu.Unlock()
		return nil
	}
	var stale []string
	for k, s := range changed {
		if r.served[k] == s {
			stale = append(stale, k.host)
			delete(r.served, k)
		}
	}
	if len(stale) == 0 {
		r.mu.Unlock()
		return nil
	}
	// The caches and the set missed it too: start over.
	r.invalidateLocked("", true)
	slices.Sort(stale)
	r.pushLocked(wire.Invalidate(slices.Compact(stale)), true)
	r.mu.Unlock()
	r.log.Warn("resync found answers that changed without an event; invalidated", "hosts", strings.Join(stale, ","))

	select {
	case <-time.After(stallGrace):
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.handled.Load() == handled {
		return errStalled
	}
	return nil
}
