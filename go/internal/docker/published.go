package docker

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-connections/nat"
)

// Port is one binding of a container port published on the daemon's host
// (docker run -p). A container port published on several host addresses
// (0.0.0.0 and ::, by default) gives one Port per binding.
type Port struct {
	Private  uint16 // the container-side port
	Proto    string // "tcp", "udp", "sctp"
	HostIP   netip.Addr
	HostPort uint16
}

// ports flattens an inspect's NetworkSettings.Ports. Exposed but
// unpublished ports (no bindings) and bindings the daemon has not given a
// host port yet are left out. An empty HostIP is read as 0.0.0.0, as the
// daemon means it; sorted by private port, protocol, then host address.
func ports(pm nat.PortMap) []Port {
	var out []Port
	for p, bs := range pm {
		private, err := strconv.ParseUint(p.Port(), 10, 16)
		if err != nil {
			continue
		}
		for _, b := range bs {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || hp == 0 {
				continue
			}
			ip := netip.IPv4Unspecified()
			if b.HostIP != "" {
				if ip, err = netip.ParseAddr(b.HostIP); err != nil {
					continue
				}
			}
			out = append(out, Port{Private: uint16(private), Proto: p.Proto(), HostIP: ip.Unmap(), HostPort: uint16(hp)})
		}
	}
	slices.SortFunc(out, func(a, b Port) int {
		if a.Private != b.Private {
			return int(a.Private) - int(b.Private)
		}
		if c := strings.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		return a.HostIP.Compare(b.HostIP)
	})
	return out
}

// Info describes the daemon's kind: whether its container addresses can
// be routable from the machine it runs on.
type Info struct {
	Name            string   // the daemon host's name
	OperatingSystem string   // "Debian GNU/Linux 12 (bookworm)", "Docker Desktop", ...
	SecurityOptions []string // "name=rootless" for a rootless daemon
}

// Rootless reports whether the daemon runs rootless, its container
// network inside a namespace of its own.
func (i Info) Rootless() bool {
	return slices.Contains(i.SecurityOptions, "name=rootless")
}

// Desktop reports whether the daemon is Docker Desktop's, inside a VM.
func (i Info) Desktop() bool {
	return strings.Contains(i.OperatingSystem, "Docker Desktop")
}

// Info asks the daemon what kind it is (GET /info).
func (c *Client) Info(ctx context.Context) (Info, error) {
	i, err := c.api.Info(ctx)
	if err != nil {
		return Info{}, c.wrap(ctx, "docker info", err)
	}
	return Info{Name: i.Name, OperatingSystem: i.OperatingSystem, SecurityOptions: i.SecurityOptions}, nil
}
