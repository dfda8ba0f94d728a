package reach

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Resolver serves the port face: it answers a resolve with a container's
// address or, when containers are reached through published ports, with
// the host-side address and port to dial (port.Dialer).
type Resolver struct {
	R       *resolve.Resolver
	Decider *Decider
	Tunnel  Forwarder // the SSH connection, for Tunnel mode; see tunnel.go
	ports   nodePorts
}

// Resolve is the container's own address (resolve.Resolver.Resolve).
func (x *Resolver) Resolve(ctx context.Context, host string, fam wire.Family) (netip.Addr, error) {
	return x.R.Resolve(ctx, host, fam)
}

// List is resolve.Resolver.List.
func (x *Resolver) List(ctx context.Context) ([]wire.Container, error) {
	return x.R.List(ctx)
}

// ResolveDial returns the container's address with port 0 when it is
// reached directly, or the host-side address and port of its published
// distribution port. A container that publishes none is an error wrapping
// wire.ErrNotPublished, which names the container.
func (x *Resolver) ResolveDial(ctx context.Context, host string, fam wire.Family) (netip.AddrPort, error) {
	m, err := x.R.Lookup(ctx, host, fam)
	if err != nil && !errors.Is(err, wire.ErrNoAddress) {
		return netip.AddrPort{}, err
	}
	dec, derr := x.Decider.Decide(ctx)
	if derr != nil {
		return netip.AddrPort{}, fmt.Errorf("resolve %q: %w", host, derr)
	}
	if err != nil {
		if dec.Mode != Published {
			return netip.AddrPort{}, err
		}
		// A published port needs no container address of the family:
		// the binding's host side is what is dialled.
		other := wire.Inet6
		if fam == wire.Inet6 {
			other = wire.Inet
		}
		if m, err = x.R.Lookup(ctx, host, other); err != nil {
			return netip.AddrPort{}, err
		}
	}
	w := dec.WayOf(m.Published, fam)
	switch {
	case w.Mode == Tunnel:
		return x.nodeEndpoint(ctx, m)
	case w.Mode == Direct:
		return netip.AddrPortFrom(m.Addr, 0), nil
	case w.Err != nil:
		return netip.AddrPort{}, fmt.Errorf("resolve %q: container %s (%.12s): %w", host, m.Container.Name, m.Container.ID, w.Err)
	}
	return w.Dial, nil
}
