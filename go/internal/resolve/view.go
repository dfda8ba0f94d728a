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

// patchTimeout bounds the inspect that patches the container set after an
// event. Events wait behind it, and lookups do not use the set meanwhile,
// so it is short: a daemon this slow makes lookups list instead.
const patchTimeout = 2 * time.Second

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
	usable := v != nil && r.patching == 0 && time.Now().Before(v.expires)
	r.mu.Unlock()
	if !usable {
		return Match{}, false
	}
	m, err := r.answer(v.cands, k, given)
	if err != nil {
		return Match{}, false
	}
	r.store(gen, func() { r.answers.Add(k, m) })
	m.Forms = slices.Clone(m.Forms)
	return m, true
}

// eventArrived empties the answer caches after an event about container id
// ("" when the event names none), and reports whether the container set
// now needs a patch for it; lookups stop using the set until patch is done.
func (r *Resolver) eventArrived(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidateLocked(id, false)
	switch {
	case r.view == nil:
		return false
	case id == "":
		// Nothing to inspect: forget the set, the next round
		// makes a new one.
		r.view = nil
		return false
	}
	r.patching++
	return true
}

// patch inspects container id and puts the result in the container set.
// Only a failed inspect costs the set; a container that is gone or not
// running is taken out of it.
func (r *Resolver) patch(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, patchTimeout)
	d, err := r.api.Inspect(ctx, id)
	cancel()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.patching--
	if err == nil && d.Running {
		r.details.Add(d.ID, d)
	}
	if r.view == nil {
		return // dropped meanwhile; a round makes the next one
	}
	id = strings.ToLower(id)
	switch {
	case err == nil && d.Running:
		c := candidateOf(d)
		r.view = r.view.with(c.id, &c)
	case err == nil, errors.Is(err, wire.ErrNotFound):
		r.view = r.view.with(id, nil)
	default:
		r.log.Debug("container set dropped: inspect after an event failed", "container", id, "err", err)
		r.view = nil
	}
}

// refresh starts a round, unless one is in flight, without waiting for it:
// its list becomes the new container set. Called when the stream opens and
// every TTL/2 after.
func (r *Resolver) refresh() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ttl > 0 && r.live {
		r.startLocked(context.Background())
	}
}
