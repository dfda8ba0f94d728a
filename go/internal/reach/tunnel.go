package reach

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/epmd-docker/epmd_docker/go/internal/epmd"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/ssh"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Tunnel is the mode for a daemon reached over SSH (DOCKER_HOST ssh://):
// a container is dialled through a tunnel over that same SSH connection,
// to its address as the server sees it, both its epmd and its node's
// distribution port. Its answers are the local ends of the tunnels,
// {ok, {127,0,0,1}, LocalPort}.
const Tunnel Mode = "tunnel"

// Forwarder opens the local end of a tunnel to an address as the daemon's
// host sees it; *ssh.Conn implements it.
type Forwarder interface {
	Forward(ctx context.Context, remote netip.AddrPort) (netip.AddrPort, error)
}

// tunnelled says whether auto mode tunnels for the daemon at dockerHost.
// It is decided before anything else, with no name lookup: an ssh:// host
// may be a Host alias of ~/.ssh/config that no DNS knows.
func tunnelled(mode Mode, dockerHost string) (Decision, bool) {
	if (mode != Auto && mode != Tunnel) || !ssh.IsSSH(dockerHost) {
		return Decision{}, false
	}
	return Decision{Mode: Tunnel, Why: "daemon reached over SSH"}, true
}

// Local returns where to dial, from this host, to reach ap as the daemon's
// host sees it: ap itself unless containers are reached through tunnels,
// else the local end of a tunnel to it. For the commands that talk to a
// container's epmd or node themselves (ls, remsh).
func Local(ctx context.Context, f Forwarder, dec Decision, ap netip.AddrPort) (netip.AddrPort, error) {
	if dec.Mode != Tunnel {
		return ap, nil
	}
	if f == nil {
		return netip.AddrPort{}, fmt.Errorf("%w: no SSH connection to tunnel through", wire.ErrUnavailable)
	}
	return f.Forward(ctx, ap)
}

// nodePortTTL is how long a node's port, as its epmd told it through a
// tunnel, is used without asking again: address_please/3 is called twice
// per connection, and each question through a tunnel costs a channel.
// A node that restarts in the same container on another port is found
// again after it.
const nodePortTTL = 10 * time.Second

// nodePorts remembers the ports nodes listen on, by container and address.
type nodePorts struct {
	once sync.Once
	lru  *expirable.LRU[string, uint16]
}

func (p *nodePorts) cache() *expirable.LRU[string, uint16] {
	p.once.Do(func() { p.lru = expirable.NewLRU[string, uint16](4096, nil, nodePortTTL) })
	return p.lru
}

// nodeEndpoint is NodeEndpoint with the Locator's memory of node ports.
func (x *Locator) nodeEndpoint(ctx context.Context, m resolve.Match) (netip.AddrPort, error) {
	key := m.Container.ID + " " + m.Addr.String()
	if port, ok := x.ports.cache().Get(key); ok && x.Tunnel != nil {
		return x.Tunnel.Forward(ctx, netip.AddrPortFrom(m.Addr, port))
	}
	ap, port, err := nodeEndpoint(ctx, x.Tunnel, m)
	if err == nil {
		x.ports.cache().Add(key, port)
	}
	return ap, err
}

// nodeEndpoint returns the local end of a tunnel to the distribution port
// of the node in the container m, and that port as the server sees it;
// the port is asked of the container's epmd, through a tunnel too. A
// container reached this way runs one node, as with published ports:
// address_please/3 does not tell the helper which of several is wanted.
func nodeEndpoint(ctx context.Context, f Forwarder, m resolve.Match) (netip.AddrPort, uint16, error) {
	where := fmt.Sprintf("container %s (%.12s)", m.Container.Name, m.Container.ID)
	if f == nil {
		return netip.AddrPort{}, 0, fmt.Errorf("%s: %w: no SSH connection to tunnel through", where, wire.ErrUnavailable)
	}
	local, err := f.Forward(ctx, netip.AddrPortFrom(m.Addr, epmd.DefaultPort))
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("%s: %w", where, err)
	}
	nodes, err := epmd.Names(ctx, local)
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("%s: %w: cannot ask its epmd at %s through the tunnel: %v", where, wire.ErrUnavailable, m.Addr, err)
	}
	switch len(nodes) {
	case 0:
		return netip.AddrPort{}, 0, fmt.Errorf("%s: %w: no Erlang node is registered with its epmd", where, wire.ErrNoAddress)
	case 1:
	default:
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.Name
		}
		return netip.AddrPort{}, 0, fmt.Errorf("%s: %w: it runs several nodes (%s), and a tunnel serves one", where, wire.ErrNoAddress, strings.Join(names, ", "))
	}
	port := uint16(nodes[0].Port)
	ap, err := f.Forward(ctx, netip.AddrPortFrom(m.Addr, port))
	return ap, port, err
}
