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
}

// fetch returns the running containers as of now, joining the round in
// progress if one started since the last invalidation.
func (r *Resolver) fetch(ctx context.Context) (*round, error) {
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
	base, err := r.collect(ctx)
	r.mu.Lock()
	if r.flight == rd {
		r.flight = nil
	}
	rd.err = err
	if err == nil {
		v := newView(base, time.Now().Add(r.ttl))
		rd.cands = v.cands
		r.installLocked(rd, v)
	}
	r.mu.Unlock()
	close(rd.done)
}

// collect lists the running containers and completes each with its
// inspect results, from the cache when they still fit. The candidates it
// returns have their own networks only (see joined).
func (r *Resolver) collect(ctx context.Context) ([]candidate, error) {
	list, err := r.api.ListRunning(ctx)
	if err != nil {
		return nil, err
	}
	details := make([]docker.Details, len(list))
	var missing []int
	for i, c := range list {
		if d, ok := r.details.Get(c.ID); ok && current(d, c) {
			details[i] = d
		} else {
			missing = append(missing, i)
		}
	}

	if len(missing) > 0 {
		var (
			wg   sync.WaitGroup
			sem  = make(chan struct{}, inspectConcurrency)
			errs = make([]error, len(list))
		)
		for _, i := range missing {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				d, err := r.api.Inspect(ctx, list[i].ID)
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
				return nil, errs[i]
			}
		}
		r.log.Debug("inspected containers", "count", len(missing), "running", len(list))
	}

	cands := make([]candidate, 0, len(list))
	for i, c := range list {
		if c.State != "" && c.State != "running" {
			continue
		}
		if details[i].ID == "" || !details[i].Running {
			continue // vanished or stopped since the list
		}
		cands = append(cands, newCandidate(c, details[i]))
	}
	return cands, nil
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
