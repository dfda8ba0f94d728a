package reach

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

func TestPublishedDial(t *testing.T) {
	any4, any6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	bind := func(private uint16, ip netip.Addr, host uint16) docker.Port {
		return docker.Port{Private: private, Proto: "tcp", HostIP: ip, HostPort: host}
	}
	lo := netip.MustParseAddr("127.0.0.1")
	remote := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name   string
		p      PublishedPorts
		fam    wire.Family
		remote netip.Addr
		want   string // AddrPort, or "" when err
		err    error
	}{
		{"only port, all interfaces", PublishedPorts{Ports: []docker.Port{bind(9100, any4, 32768), bind(9100, any6, 32768)}}, wire.Inet, netip.Addr{}, "127.0.0.1:32768", nil},
		{"only port, inet6", PublishedPorts{Ports: []docker.Port{bind(9100, any4, 32768), bind(9100, any6, 32768)}}, wire.Inet6, netip.Addr{}, "[::1]:32768", nil},
		{"loopback binding", PublishedPorts{Ports: []docker.Port{bind(9100, lo, 40000)}}, wire.Inet, netip.Addr{}, "127.0.0.1:40000", nil},
		{"epmd port is not a guess", PublishedPorts{Ports: []docker.Port{bind(4369, any4, 4369), bind(9100, any4, 5000)}}, wire.Inet, netip.Addr{}, "127.0.0.1:5000", nil},
		{"label picks", PublishedPorts{Label: "9100", Ports: []docker.Port{bind(80, any4, 8080), bind(9100, any4, 5000)}}, wire.Inet, netip.Addr{}, "127.0.0.1:5000", nil},
		{"label with /tcp", PublishedPorts{Label: "9100/tcp", Ports: []docker.Port{bind(9100, any4, 5000)}}, wire.Inet, netip.Addr{}, "127.0.0.1:5000", nil},
		{"remote daemon", PublishedPorts{Ports: []docker.Port{bind(9100, any4, 5000)}}, wire.Inet, remote, "192.0.2.7:5000", nil},
		{"remote loopback", PublishedPorts{Ports: []docker.Port{bind(9100, lo, 5000)}}, wire.Inet, remote, "", wire.ErrNotPublished},
		{"nothing published", PublishedPorts{}, wire.Inet, netip.Addr{}, "", wire.ErrNotPublished},
		{"udp only", PublishedPorts{Ports: []docker.Port{{Private: 9100, Proto: "udp", HostIP: any4, HostPort: 1}}}, wire.Inet, netip.Addr{}, "", wire.ErrNotPublished},
		{"several", PublishedPorts{Ports: []docker.Port{bind(80, any4, 8080), bind(9100, any4, 5000)}}, wire.Inet, netip.Addr{}, "", wire.ErrNotPublished},
		{"label not published", PublishedPorts{Label: "9200", Ports: []docker.Port{bind(9100, any4, 5000)}}, wire.Inet, netip.Addr{}, "", wire.ErrNotPublished},
		{"label not a port", PublishedPorts{Label: "dist", Ports: []docker.Port{bind(9100, any4, 5000)}}, wire.Inet, netip.Addr{}, "", wire.ErrNotPublished},
		{"ipv4 only, inet6 asked", PublishedPorts{Ports: []docker.Port{bind(9100, any4, 5000)}}, wire.Inet6, netip.Addr{}, "", wire.ErrNoAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Dial(tt.fam, tt.remote)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, %v; want error %v", got, err, tt.err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}
