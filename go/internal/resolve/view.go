package resolve

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Patches. The inspect of a container that is starting or stopping waits
// in the daemon until that is over (the daemon holds the container's lock),
// which can take seconds: so patches run beside the event stream, never in
// its way, and nothing waits for them.
const (
	patchTimeout     = 5 * time.Second
	patchConcurrency = 8
)

// view is a container set (see the package comment). It is never changed
// once published: a patch makes a new one, so a lookup may match against
// cands without holding the lock.
type view struct {
	base    map[string]candidate // by ID, before joinNetworks
	cands   []candidate          // base with networks joined, sorted by ID
	expires time.Time
}

// newView makes a view of the candidates of a round, before joinNetworks.
func newView(base []candidate, expires time.Time) *view {
	m := make(map[string]candidate, len(base))
	for _, c := range base {
		m[c.id] = c
	}
	return &view{base: m, cands: joined(m), expires: expires}
}

// with returns a copy of v in which container id is c, or is absent when
// c is nil.
func (v *view) with(id string, c *candidate) *view {
	m := maps.Clone(v.base)
	if c == nil {
		delete(m, id)
	} else {
		m[id] = *c
	}
	return &view{base: m, cands: joined(m), expires: v.expires}
}

// joined copies the candidates and gives each joiner (--network
// container:X) the networks of X. The copies have networks of their own,
// so base is left as it is.
func joined(base map[string]candidate) []candidate {
	out := make([]candidate, 0, len(base))
	for _, c := range base {
		c.networks = slices.Clone(c.networks)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.id, b.id) })
	joinNetworks(out)
	return out
}

// candidateOf makes a candidate from inspect results alone: they hold
// everything the list does.
func candidateOf(d docker.Details) candidate {
	labels := d.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return newCandidate(docker.Container{
		ID: d.ID, Name: d.Name, State: "running", Labels: labels,
		NetworkMode: d.NetworkMode, Networks: d.Networks,
	}, d)
}

// fromView answers k from the container set, if there is one to trust and
// it finds exactly one container. Anything else is left to a round: see
// the package comment.
func (r *Resolver) fromView(k key, given string) (Match, bool) {
	r.mu.Lock()
	v, gen := r.view, r.gen
	r.mu.Unlock()
	if v == nil || !time.Now().Before(v.expires) {
		return Match{}, false
	}
	m, err := r.answer(v.cands, k, given)
	if err != nil {
		return Match{}, false
	}
	r.store(gen, func() { r.addAnswer(k, m) })
	r.serve(k, m)
	m.Forms = slices.Clone(m.Forms)
	return m, true
}

// pend is a container taken out of the set by an event, until its patch
// is in. seq is the generation of the latest event about it: the patch
// inspects again until an inspect has begun after that.
type pend struct {
	seq uint64
}

// eventArrived applies an event about a container (or, for a network
// destroyed, none): the answer caches are emptied, and the container is taken
// out of the container set at once, to be put back by a patch (an inspect)
// if it is running. An absent entry is never wrong, only slower: a name the
// set does not find is checked with a round. It returns the patch to start,
// if one is not under way already; the caller runs it in a goroutine.
func (r *Resolver) eventArrived(ev docker.Event) *pend {
	id := ev.ContainerID
	if id == "" && ev.Type == "network" {
		// A network destroyed: the daemon refuses while any
		// container is attached, so no container changed.
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eventPushLocked(strings.ToLower(id), ev.Action)
	r.invalidateLocked(id, false)
	switch {
	case r.view == nil:
		return nil
	case id == "":
		// Nothing to inspect: forget the set, the next round
		// makes a new one.
		r.view = nil
		clear(r.pending)
		return nil
	}
	id = strings.ToLower(id)
	if _, ok := r.view.base[id]; ok {
		r.view = r.view.with(id, nil)
	}
	if p, ok := r.pending[id]; ok {
		p.seq = r.gen // the patch under way inspects again
		return nil
	}
	p := &pend{seq: r.gen}
	r.pending[id] = p
	return p
}

// patch inspects container id until an inspect has begun after every event
// about it received meanwhile, and then puts the container back in the set
// if it is running. A failed inspect leaves it out (until a round or the
// next event). Patches of different containers run side by side, with at
// most patchConcurrency inspects at once.
func (r *Resolver) patch(ctx context.Context, id string, p *pend) {
	defer r.patched.Add(1)
	id = strings.ToLower(id)
	defer func() {
		r.mu.Lock()
		if r.pending[id] == p {
			delete(r.pending, id)
		}
		r.mu.Unlock()
	}()
	for range 10 { // a container that changes faster than this stays out
		r.mu.Lock()
		seq := p.seq
		r.mu.Unlock()
		select {
		case r.patchSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		ictx, cancel := context.WithTimeout(ctx, patchTimeout)
		d, err := r.api.Inspect(ictx, id)
		cancel()
		<-r.patchSlots

		r.mu.Lock()
		switch {
		case r.pending[id] != p:
			// The set was dropped meanwhile.
			r.mu.Unlock()
			return
		case p.seq != seq:
			// A newer event came in while the daemon answered:
			// this answer may predate it.
			r.mu.Unlock()
			continue
		}
		if err == nil && d.Running {
			r.details.Add(d.ID, d)
			if r.view != nil {
				c := candidateOf(d)
				r.view = r.view.with(c.id, &c)
				// Answers given while it was out of the set may
				// have missed it (a name it shares is now
				// ambiguous): drop them.
				r.gen++
				r.touch(id, false)
				r.purgeAnswersLocked()
				r.invalidateAllLocked()
			}
		} else if err != nil && !errors.Is(err, wire.ErrNotFound) {
			r.log.Debug("container left out of the set: inspect after an event failed", "container", id, "err", err)
		}
		r.mu.Unlock()
		return
	}
}

// maxTouches bounds the event log. A round that saw more events than this
// while it ran is not made the container set; the next one will be.
const maxTouches = 256

// touch is an event in the log: the generation it made, and the container
// it named ("" for one naming none, or for a change to everything).
type touch struct {
	gen uint64
	id  string
}

// touch logs the generation just made. r.mu must be held.
func (r *Resolver) touch(id string, all bool) {
	if all {
		id = ""
	}
	if len(r.touches) == maxTouches {
		r.touches = slices.Delete(r.touches, 0, 1)
	}
	r.touches = append(r.touches, touch{r.gen, strings.ToLower(id)})
}

// installLocked makes the containers of round rd the container set, with
// the set's own entries for the containers that events have named since
// the round began: its list may predate those events, while the set has
// them out, or back in after a patch. It does nothing if the round's list
// cannot be brought up to date that way: no stream, no set to take the
// entries from, a change to everything, or more events than the log holds.
// This lets the rounds that run every TTL/2 renew the set on a daemon whose
// events never pause. r.mu must be held.
func (r *Resolver) installLocked(rd *round, v *view) {
	if !r.live || r.ttl <= 0 {
		return
	}
	named := map[string]bool{}
	for id := range r.pending {
		named[id] = true // out of the set until its patch is in
	}
	if r.gen != rd.gen {
		if r.view == nil || len(r.touches) == 0 || r.touches[0].gen > rd.gen+1 {
			return
		}
		for _, t := range r.touches {
			if t.gen <= rd.gen {
				continue
			}
			if t.id == "" {
				return
			}
			named[t.id] = true
		}
	}
	for id := range named {
		if c, ok := r.view.entry(id); ok {
			v.base[id] = c
		} else {
			delete(v.base, id)
		}
	}
	if len(named) > 0 {
		v.cands = joined(v.base)
	}
	r.view = v
}

// entry is container id's entry in v, if v has one.
func (v *view) entry(id string) (candidate, bool) {
	if v == nil {
		return candidate{}, false
	}
	c, ok := v.base[id]
	return c, ok
}
