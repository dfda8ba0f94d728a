package reach

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Locator tells where the node of a host is reached: it has the resolver
// find the container, and turns the match into an endpoint as the decision
// says. It is what port mode serves (port.Backend).
type Locator struct {
	Resolver *resolve.Resolver
	Decider  *Decider
	// Swarm, when set, answers for Swarm tasks on other nodes.
	Swarm *Swarm
	// Tunnel is the SSH connection, for Tunnel mode (tunnel.go).
	Tunnel Forwarder
	ports  nodePorts
}

// Endpoint returns where node@host is reached, for family fam: the
// container's own address (Port 0, ask its epmd) when it is reached
// directly, its docker_gwbridge address for a Swarm task here, or the host
// side of its published distribution port. Errors are the resolver's, or
// wrap wire.ErrNotPublished (naming the container) or wire.ErrNoAddress.
func (l *Locator) Endpoint(ctx context.Context, host string, fam wire.Family) (wire.Endpoint, error) {
	m, err := l.Resolver.Lookup(ctx, host, fam)
	if errors.Is(err, wire.ErrNotFound) && l.Swarm != nil {
		ap, err := l.Swarm.Find(ctx, host, fam, err)
		if err != nil {
			return wire.Endpoint{}, err
		}
		return wire.Endpoint{Addr: ap.Addr(), Port: ap.Port()}, nil
	}
	if err != nil && !errors.Is(err, wire.ErrNoAddress) {
		return wire.Endpoint{}, err
	}
	if l.Swarm != nil && err == nil {
		if aerr := l.Swarm.Ambiguous(ctx, host, m); aerr != nil {
			return wire.Endpoint{}, aerr
		}
	}
	dec, derr := l.Decider.Decide(ctx)
	if derr != nil {
		return wire.Endpoint{}, fmt.Errorf("resolve %q: %w", host, derr)
	}
	if err != nil {
		if dec.Mode != Published {
			return wire.Endpoint{}, err
		}
		// A published port needs no container address of the family:
		// the binding's host side is what is dialled.
		if m, err = l.Resolver.Lookup(ctx, host, other(fam)); err != nil {
			return wire.Endpoint{}, err
		}
	}
	w, err := l.Decider.Way(ctx, m, fam)
	if err != nil {
		return wire.Endpoint{}, fmt.Errorf("resolve %q: %w", host, err)
	}
	if w.Mode == Tunnel {
		ap, err := l.nodeEndpoint(ctx, m)
		if err != nil {
			return wire.Endpoint{}, err
		}
		return wire.Endpoint{Addr: ap.Addr(), Port: ap.Port()}, nil
	}
	return endpointOf(w, host, m)
}

// Peek is Endpoint from memory, without waiting (resolve.Resolver.Peek,
// Decider.Known); answered is false when only Endpoint can tell.
func (l *Locator) Peek(host string, fam wire.Family) (e wire.Endpoint, answered bool, err error) {
	m, ok, err := l.Resolver.Peek(host, fam)
	switch {
	case !ok:
		return wire.Endpoint{}, false, nil
	case errors.Is(err, wire.ErrNotFound) && l.Swarm != nil:
		return wire.Endpoint{}, false, nil // a task on another node may answer
	case errors.Is(err, wire.ErrNoAddress):
		return wire.Endpoint{}, false, nil // a published port of the other family may do
	case err != nil:
		return wire.Endpoint{}, true, err
	case l.Swarm != nil && slices.Equal(m.Forms, []resolve.Form{resolve.FormSwarm}):
		return wire.Endpoint{}, false, nil // the service may run elsewhere too
	}
	w, ok := l.Decider.Known(m, fam)
	if !ok || w.Mode == Tunnel { // a tunnel may have to be opened
		return wire.Endpoint{}, false, nil
	}
	e, err = endpointOf(w, host, m)
	return e, true, err
}

// List is resolve.Resolver.List.
func (l *Locator) List(ctx context.Context) ([]wire.Container, error) {
	return l.Resolver.List(ctx)
}

// endpointOf turns way w to the match for host into an endpoint.
func endpointOf(w Way, host string, m resolve.Match) (wire.Endpoint, error) {
	switch {
	case w.Mode == Direct:
		return wire.Endpoint{Addr: w.Addr}, nil
	case w.Err != nil:
		return wire.Endpoint{}, fmt.Errorf("resolve %q: container %s (%.12s): %w", host, m.Container.Name, m.Container.ID, w.Err)
	}
	return wire.Endpoint{Addr: w.Dial.Addr(), Port: w.Dial.Port()}, nil
}

// other is the other family.
func other(fam wire.Family) wire.Family {
	if fam == wire.Inet6 {
		return wire.Inet
	}
	return wire.Inet6
}
