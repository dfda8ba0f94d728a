package discover

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Source is what a Finder needs of the resolver; *resolve.Resolver has it.
type Source interface {
	Running(ctx context.Context) ([]resolve.Match, error)
}

// Decider decides how containers are reached; *reach.Decider is one.
type Decider interface {
	Decide(ctx context.Context) (reach.Decision, error)
	Way(ctx context.Context, m resolve.Match, fam wire.Family) (reach.Way, error)
}

// Finder finds the nodes in every running container: the port's nodes
// command.
type Finder struct {
	Source  Source
	Decider Decider
	Self    string       // the name introduced to nodes (see Find)
	Log     *slog.Logger // nil discards
	// Via is Target.Via for every container (SSH tunnels); nil: none.
	Via func(netip.AddrPort) netip.AddrPort
	// ProbeTimeout bounds asking one container; zero is a third of what
	// is left of the caller's deadline, or a second.
	ProbeTimeout time.Duration

	logged sync.Map // container IDs whose list was cut, logged once each
}

// Result is Find's answer for one target of FindAll.
type Result struct {
	Found
	Err error
}

// FindAll runs Find for every target at once, each within probe.
func FindAll(ctx context.Context, targets []Target, self string, probe time.Duration) []Result {
	out := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, probe)
			defer cancel()
			out[i].Found, out[i].Err = Find(pctx, t, self)
		}()
	}
	wg.Wait()
	return out
}

// Targets pairs every running container with the way it is reached, for
// family IPv4, as the decider says it for lookups.
func Targets(ctx context.Context, src Source, d Decider) ([]wire.Container, []Target, error) {
	dec, err := d.Decide(ctx)
	if err != nil {
		return nil, nil, err
	}
	ms, err := src.Running(ctx)
	if err != nil {
		return nil, nil, err
	}
	cs := make([]wire.Container, len(ms))
	ts := make([]Target, len(ms))
	for i, m := range ms {
		cs[i] = m.Container
		var w reach.Way
		if m.Addr.IsValid() {
			if w, err = d.Way(ctx, m, wire.Inet); err != nil {
				return nil, nil, err
			}
		} else {
			// No IPv4 address: only a published port can tell.
			w = reach.Decision{Mode: reach.Published, Remote: dec.Remote}.WayOf(reach.PublishedPortsOf(m), wire.Inet)
		}
		addr := m.Addr
		if w.Mode == reach.Direct && w.Addr.IsValid() {
			addr = w.Addr // a Swarm task's docker_gwbridge address
		}
		ts[i] = Target{Addr: addr, Hostname: m.Container.Hostname, Way: w}
	}
	return cs, ts, nil
}

// Nodes returns the names of the nodes in every running container, sorted
// and without repeats. A container whose nodes cannot be found adds none;
// one with invalid names, or more than MaxPerContainer, is logged once.
func (f *Finder) Nodes(ctx context.Context) ([]string, error) {
	cs, ts, err := Targets(ctx, f.Source, f.Decider)
	if err != nil {
		return nil, err
	}
	for i := range ts {
		ts[i].Via = f.Via
	}
	probe := f.ProbeTimeout
	if probe <= 0 {
		probe = time.Second
		if dl, ok := ctx.Deadline(); ok {
			probe = time.Until(dl) / 3
		}
	}
	var out []string
	for i, r := range FindAll(ctx, ts, f.Self, probe) {
		if r.Dropped > 0 {
			if _, seen := f.logged.LoadOrStore(cs[i].ID, true); !seen && f.Log != nil {
				f.Log.Warn("container lists names that are not valid node names, or too many: left out",
					"container", fmt.Sprintf("%s (%.12s)", cs[i].Name, cs[i].ID), "left_out", r.Dropped, "kept", len(r.Nodes), "limit", MaxPerContainer)
			}
		}
		for _, n := range r.Nodes {
			out = append(out, n.Node)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
