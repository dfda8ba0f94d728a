package reach

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Locator tells where the node of a host is reached: it has the resolver
// find the container, and turns the match into an endpoint as the decision
// says. It is what port mode serves (port.Backend).
type Locator struct {
	Resolver *resolve.Resolver
	Decider  *Decider

	// decided is the first decision Decide returned, for Peek, which
	// must not wait for one.
	decided atomic.Pointer[Decision]
}

// Endpoint returns where node@host is reached, for family fam: the
// container's own address (Port 0, ask its epmd) when it is reached
// directly, or the host side of its published distribution port. Errors
// are the resolver's, or wrap wire.ErrNotPublished (naming the container)
// or wire.ErrNoAddress.
func (l *Locator) Endpoint(ctx context.Context, host string, fam wire.Family) (wire.Endpoint, error) {
	dec, err := l.decide(ctx)
	if err != nil {
		return wire.Endpoint{}, fmt.Errorf("resolve %q: %w", host, err)
	}
	m, err := l.Resolver.Lookup(ctx, host, fam)
	if errors.Is(err, wire.ErrNoAddress) && dec.Mode == Published {
		// A published port needs no container address of the family:
		// the binding's host side is what is dialled.
		m, err = l.Resolver.Lookup(ctx, host, other(fam))
	}
	if err != nil {
		return wire.Endpoint{}, err
	}
	return endpointOf(dec, host, fam, m)
}

// Peek is Endpoint from memory, without waiting (resolve.Resolver.Peek);
// answered is false when only Endpoint can tell.
func (l *Locator) Peek(host string, fam wire.Family) (e wire.Endpoint, answered bool, err error) {
	dec := l.decided.Load()
	if dec == nil {
		return wire.Endpoint{}, false, nil
	}
	m, ok, err := l.Resolver.Peek(host, fam)
	switch {
	case !ok:
		return wire.Endpoint{}, false, nil
	case errors.Is(err, wire.ErrNoAddress) && dec.Mode == Published:
		return wire.Endpoint{}, false, nil // the other family may do
	case err != nil:
		return wire.Endpoint{}, true, err
	}
	e, err = endpointOf(*dec, host, fam, m)
	return e, true, err
}

// List is resolve.Resolver.List.
func (l *Locator) List(ctx context.Context) ([]wire.Container, error) {
	return l.Resolver.List(ctx)
}

// decide is Decider.Decide, keeping the first decision for Peek.
func (l *Locator) decide(ctx context.Context) (Decision, error) {
	if d := l.decided.Load(); d != nil {
		return *d, nil
	}
	dec, err := l.Decider.Decide(ctx)
	if err != nil {
		return Decision{}, err
	}
	l.decided.CompareAndSwap(nil, &dec)
	return dec, nil
}

// endpointOf turns the match for host into the endpoint dec says it is
// reached at.
func endpointOf(dec Decision, host string, fam wire.Family, m resolve.Match) (wire.Endpoint, error) {
	w := dec.WayOf(PublishedPortsOf(m), fam)
	switch {
	case w.Mode == Direct:
		return wire.Endpoint{Addr: m.Addr}, nil
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
