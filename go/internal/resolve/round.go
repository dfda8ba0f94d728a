package resolve

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// round is one list-and-inspect pass over Docker, shared by the lookups
// that miss while it runs.
type round struct {
	gen   uint64 // the invalidation generation it started in
	done  chan struct{}
	cands []candidate // set before done is closed
	err   error
	// partial says that some container's inspect did not answer in
	// time: it is matched by what the list says alone (no hostname, no
	// aliases), and nothing the round found is cached.
	partial bool
}

// fetch returns the running containers as of now, joining the round in
// progress if one started since the last invalidation.
func (r *Resolver) fetch(ctx context.Context) (*round, error) {
	r.awaitStream(ctx)
	r.mu.Lock()
	rd := r.startLocked(ctx)
	r.mu.Unlock()

	select {
	case <-rd.done:
		return rd, rd.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// awaitStream holds a lookup that arrives while Watch opens its first event
// stream (a helper run by that very lookup) until the daemon has answered
// the subscription, for at most openingWait. A round started before then
// could not be kept, and the opening starts a round of its own: the first
// answer would wait for two rounds of list and inspects, each slowing the
// other, rather than one.
func (r *Resolver) awaitStream(ctx context.Context) {
	r.mu.Lock()
	opening := r.opening
	r.mu.Unlock()
	if opening == nil {
		return
	}
	t := time.NewTimer(openingWait)
	defer t.Stop()
	select {
	case <-opening:
	case <-t.C:
	case <-ctx.Done():
	}
}

// openedLocked ends the wait of awaitStream, once. r.mu must be held.
func (r *Resolver) openedLocked() {
	if r.opening != nil {
		close(r.opening)
		r.opening = nil
	}
}

// startLocked returns the round in progress, starting one if there is
// none. r.mu must be held.
func (r *Resolver) startLocked(ctx context.Context) *round {
	if r.flight == nil {
		r.flight = &round{gen: r.gen, done: make(chan struct{})}
		// Detached from ctx: other lookups may come to wait on this
		// round, and the inspect results it gathers are worth keeping
		// even if the first caller gives up.
		go r.run(context.WithoutCancel(ctx), r.flight)
	}
	return r.flight
}

// run performs round rd. Its containers become the container set (see
// installLocked) if the stream is still open.
func (r *Resolver) run(ctx context.Context, rd *round) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	r.rounds.Add(1)
	base, partial, err := r.collect(ctx)
	r.mu.Lock()
	if r.flight == rd {
		r.flight = nil
	}
	rd.err, rd.partial = err, partial
	if err == nil {
		v := newView(base, time.Now().Add(r.ttl))
		rd.cands = v.cands
		if !partial {
			r.installLocked(rd, v)
		}
		if r.live && rd.gen >= r.liveGen {
			// Subscribed, and a list since: every later change
			// will be pushed.
			r.streamLocked(true)
		}
	}
	r.mu.Unlock()
	close(rd.done)
}

// collect lists the running containers and completes each with its
// inspect results, from the cache when they still fit. The candidates it
// returns have their own networks only (see joined). An inspect that takes
// longer than inspectTimeout is given up, and the round is partial (see
// round).
func (r *Resolver) collect(ctx context.Context) (cands []candidate, partial bool, err error) {
	list, err := r.api.ListRunning(ctx)
	if err != nil {
		return nil, false, err
	}
	details := make([]docker.Details, len(list))
	var missing []int
	stuck := r.stuckNow()
	for i, c := range list {
		if d, ok := r.details.Get(c.ID); ok && current(d, c) {
			details[i] = d
		} else if stuck[c.ID] {
			details[i] = listOnly(c)
			partial = true
		} else {
			missing = append(missing, i)
		}
	}

	if len(missing) > 0 {
		var (
			wg   sync.WaitGroup
			sem  = make(chan struct{}, inspectConcurrency)
			errs = make([]error, len(list))
			slow = make([]bool, len(list))
		)
		for _, i := range missing {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
				d, err := r.api.Inspect(ictx, list[i].ID)
				cancel()
				if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
					// The daemon holds up the inspect of a
					// container that is stopping or starting
					// (for as long as a stop takes): match it
					// by what the list says, rather than make
					// every lookup wait.
					details[i] = listOnly(list[i])
					slow[i] = true
					r.markStuck(list[i].ID)
					return
				}
				if err != nil {
					errs[i] = err
					return
				}
				details[i] = d
				if d.Running {
					// Only running containers' results are kept,
					// so a cached entry never says "stopped"
					// about a container the list calls running.
					r.details.Add(d.ID, d)
				}
			}()
		}
		wg.Wait()
		for _, i := range missing {
			// A container removed between list and inspect is
			// simply gone; anything else fails the round.
			if errs[i] != nil && !errors.Is(errs[i], wire.ErrNotFound) {
				return nil, false, errs[i]
			}
			if slow[i] {
				partial = true
				r.log.Debug("inspect did not answer in time; matching by the list alone", "container", list[i].ID, "timeout", inspectTimeout)
			}
		}
		r.log.Debug("inspected containers", "count", len(missing), "running", len(list))
	}

	cands = make([]candidate, 0, len(list))
	for i, c := range list {
		if c.State != "" && c.State != "running" {
			continue
		}
		if details[i].ID == "" || !details[i].Running {
			continue // vanished or stopped since the list
		}
		cands = append(cands, newCandidate(c, details[i]))
	}
	return cands, partial, nil
}

// listOnly stands in for the inspect results of list entry c: running, no
// hostname, no aliases. Its default hostname (the short ID) still matches,
// as an ID prefix.
func listOnly(c docker.Container) docker.Details {
	return docker.Details{ID: c.ID, Name: c.Name, Running: true, Labels: c.Labels, NetworkMode: c.NetworkMode}
}

// current reports whether inspect results d still describe list entry c:
// same endpoints. Hostname and domain name are fixed when a container is
// created, and aliases when an endpoint is; a new connection (or a restart)
// brings a new endpoint ID, and a disconnection removes the network from
// the list, so this check alone keeps d from lending stale names.
func current(d docker.Details, c docker.Container) bool {
	for name, ep := range c.Networks {
		if de, ok := d.Networks[name]; !ok || de.EndpointID != ep.EndpointID {
			return false
		}
	}
	return true
}

// stuckNow returns the containers that rounds match by the list alone for
// now, forgetting those whose time is up.
func (r *Resolver) stuckNow() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	out := map[string]bool{}
	for id, until := range r.stuck {
		if now.Before(until) {
			out[id] = true
		} else {
			delete(r.stuck, id)
		}
	}
	return out
}

// markStuck makes rounds match container id by the list alone for
// stuckTTL, or until an event about it.
func (r *Resolver) markStuck(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stuck[id] = time.Now().Add(stuckTTL)
}
