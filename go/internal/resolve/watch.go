package resolve

import (
	"context"
	"errors"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Re-subscription backoff after the event stream breaks: quick enough that
// a daemon restart costs little caching, slow enough not to spin while
// the daemon is away.
const (
	minBackoff = 100 * time.Millisecond
	// openingWait bounds how long a lookup waits for the first
	// subscription (see awaitStream); a local daemon answers in a
	// millisecond or two.
	openingWait = 250 * time.Millisecond
	maxBackoff  = 5 * time.Second
	// stableAfter is how long a stream must have lasted for the next
	// break to count as a new outage (backoff reset, logged as a warning).
	stableAfter = time.Second
)

// Watch keeps a Docker event stream open and drops cached answers as soon as
// an event says they may be wrong, and resynchronises with Docker every few
// seconds in case the stream has fallen silent (push.go). It runs until ctx
// ends and then returns ctx.Err(). Answers are cached only while Watch has
// a stream open, so a Resolver without Watch asks Docker every time.
//
// If push is not nil, it is told, in order and from one goroutine, what
// changed (see push.go and go/internal/wire); it may block, which holds up
// later pushes but nothing else. Call Watch once.
func (r *Resolver) Watch(ctx context.Context, push func(wire.Push)) error {
	if push != nil {
		r.mu.Lock()
		r.pushSig = make(chan struct{}, 1)
		r.mu.Unlock()
		go r.pushing(ctx, push)
	}
	r.mu.Lock()
	r.opening = make(chan struct{})
	r.mu.Unlock()
	delay := minBackoff
	outage := false
	for {
		events, errs := r.api.Events(ctx)
		var err error
		select {
		case err = <-errs:
			r.mu.Lock()
			r.openedLocked()
			r.mu.Unlock()
			// Refused at once (daemon down): never counted as live.
			if err == nil {
				err = errors.New("docker event stream ended")
			}
		default:
			// Anything may have happened while no stream was open:
			// start from nothing, then cache again. The daemon has
			// answered the subscription by now, so a round started
			// after this lists a state whose later changes all
			// arrive as events; one started before cannot store
			// its answers (setLive moves the generation on).
			r.setLive(true)
			started := time.Now()
			err = r.consume(ctx, events, errs, outage)
			r.setLive(false)
			if time.Since(started) >= stableAfter {
				delay, outage = minBackoff, false
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !outage {
			r.log.Warn("docker event stream down; caching off until it is back", "err", err)
			outage = true
		} else {
			r.log.Debug("docker event stream still down", "err", err, "retry_in", delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		delay = min(delay*2, maxBackoff)
	}
}

// consume applies events until the stream ends, and returns why it ended.
func (r *Resolver) consume(ctx context.Context, events <-chan docker.Event, errs <-chan error, outage bool) error {
	var stable <-chan time.Time
	if outage {
		t := time.NewTimer(stableAfter)
		defer t.Stop()
		stable = t.C
	}
	// Each resync also renews the container set before it is TTL old.
	every := resyncEvery
	if r.ttl > 0 {
		every = min(every, r.ttl/2)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	resync := tick.C
	resynced := make(chan error, 1)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil // the error follows
				continue
			}
			r.log.Debug("docker event", "type", ev.Type, "action", ev.Action, "container", ev.ContainerID)
			// Drop every answer, not just this container's: a start
			// can turn "not found" into an address or one address
			// into an ambiguity for names that never mentioned this
			// container, and working out which names an event affects
			// would be more code than the cache saves. The container
			// set, though, is patched: one inspect, not a list, and
			// not waited for.
			if p := r.eventArrived(ev); p != nil {
				go r.patch(ctx, ev.ContainerID, p)
			}
			r.handled.Add(1)
		case <-resync:
			// One at a time, beside the events, which it must not
			// hold up.
			resync = nil
			go func() { resynced <- r.resync(ctx) }()
		case err := <-resynced:
			if err != nil {
				return err
			}
			resync = tick.C
		case err, ok := <-errs:
			if !ok || err == nil {
				return errors.New("docker event stream ended")
			}
			return err
		case <-stable:
			r.log.Info("docker event stream back; caching on")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setLive records whether an event stream is open. Either way the caches
// and the container set are emptied: on the way up because events were
// missed, on the way down because none will arrive. On the way up a round
// starts at once, so that the first lookups find a container set.
func (r *Resolver) setLive(live bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidateLocked("", true)
	r.live = live
	r.openedLocked()
	if live {
		// {stream, up} once this round is in.
		r.liveGen = r.gen
		r.startLocked(context.Background())
	} else {
		r.streamLocked(false)
	}
}
