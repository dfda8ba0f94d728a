package reach

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// DistPortLabel names a container's distribution port, the container-side
// port its node listens on (-kernel inet_dist_listen_min/max), for
// containers reached through published ports: epmd_docker.dist_port=9100.
// Without it the container's only published TCP port (other than epmd's
// 4369) is taken.
const DistPortLabel = "epmd_docker.dist_port"

// epmdPort is left out when the distribution port is guessed: a container
// may publish its epmd beside the distribution port.
const epmdPort = 4369

// PublishedPorts is what a container publishes, as far as reaching its node
// through a published port is concerned.
type PublishedPorts struct {
	Label string        // the value of DistPortLabel; "" when unset
	Ports []docker.Port // every published binding
}

// PublishedPortsOf is what the matched container publishes.
func PublishedPortsOf(m resolve.Match) PublishedPorts {
	return PublishedPorts{Label: m.Labels[DistPortLabel], Ports: m.Ports}
}

// DistPort returns the container-side distribution port: the label's, or
// the only published TCP port. The error wraps wire.ErrNotPublished and
// says why.
func (p PublishedPorts) DistPort() (uint16, error) {
	if p.Label != "" {
		s := strings.TrimSuffix(strings.TrimSpace(p.Label), "/tcp")
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("%w: label %s=%q is not a port number", wire.ErrNotPublished, DistPortLabel, p.Label)
		}
		for _, b := range p.Ports {
			if b.Proto == "tcp" && b.Private == uint16(n) {
				return uint16(n), nil
			}
		}
		return 0, fmt.Errorf("%w: label %s says %d, but %d/tcp is not published", wire.ErrNotPublished, DistPortLabel, n, n)
	}
	var cands []uint16
	for _, b := range p.Ports {
		if b.Proto == "tcp" && b.Private != epmdPort && !slices.Contains(cands, b.Private) {
			cands = append(cands, b.Private)
		}
	}
	switch len(cands) {
	case 0:
		return 0, fmt.Errorf("%w: no TCP port is published", wire.ErrNotPublished)
	case 1:
		return cands[0], nil
	}
	ss := make([]string, len(cands))
	for i, c := range cands {
		ss[i] = strconv.Itoa(int(c))
	}
	return 0, fmt.Errorf("%w: several TCP ports are published (%s); label the distribution port %s=PORT",
		wire.ErrNotPublished, strings.Join(ss, ", "), DistPortLabel)
}

// Dial returns the host-side address and port to dial the container's node
// at: the binding of its distribution port for family fam. A binding on
// every interface (0.0.0.0, ::) is reached at remote, the daemon's host,
// when the daemon is remote, else at this host's loopback address. Errors
// wrap wire.ErrNotPublished, or wire.ErrNoAddress when the port is
// published for the other family only.
func (p PublishedPorts) Dial(fam wire.Family, remote netip.Addr) (netip.AddrPort, error) {
	port, err := p.DistPort()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var (
		found     bool
		loopbacks bool
	)
	for _, b := range p.Ports {
		if b.Proto != "tcp" || b.Private != port || b.HostIP.Is4() != (fam == wire.Inet) {
			continue
		}
		found = true
		ip := b.HostIP
		switch {
		case ip.IsUnspecified() && remote.IsValid():
			if remote.Unmap().Is4() != (fam == wire.Inet) {
				continue
			}
			ip = remote.Unmap()
		case ip.IsUnspecified() && fam == wire.Inet:
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		case ip.IsUnspecified():
			ip = netip.IPv6Loopback()
		case ip.IsLoopback() && remote.IsValid():
			// The remote host's own loopback: not ours.
			loopbacks = true
			continue
		}
		return netip.AddrPortFrom(ip, b.HostPort), nil
	}
	if loopbacks {
		return netip.AddrPort{}, fmt.Errorf("%w: %d/tcp is published on the daemon host's loopback address only, which is not reachable from here",
			wire.ErrNotPublished, port)
	}
	if found {
		return netip.AddrPort{}, fmt.Errorf("%w: %d/tcp is published on all addresses, but the daemon host %v is not a %v address", wire.ErrNoAddress, port, remote, fam)
	}
	return netip.AddrPort{}, fmt.Errorf("%w: %d/tcp is not published for %v", wire.ErrNoAddress, port, fam)
}
