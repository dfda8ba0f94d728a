package reach

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// daemon is a Docker daemon of fixed containers, for the resolver.
type daemon []docker.Details

func (d daemon) ListRunning(context.Context) ([]docker.Container, error) {
	var out []docker.Container
	for _, c := range d {
		out = append(out, docker.Container{ID: c.ID, Name: c.Name, State: "running", Labels: c.Labels, NetworkMode: c.NetworkMode, Networks: c.Networks})
	}
	return out, nil
}

func (d daemon) Inspect(_ context.Context, id string) (docker.Details, error) {
	for _, c := range d {
		if c.ID == id {
			return c, nil
		}
	}
	return docker.Details{}, wire.ErrNotFound
}

func (d daemon) Events(context.Context) (<-chan docker.Event, <-chan error) {
	errs := make(chan error, 1)
	errs <- errors.New("no events here")
	return nil, errs
}

func container(name, ip string, labels map[string]string, ports ...docker.Port) docker.Details {
	if labels == nil {
		labels = map[string]string{}
	}
	id := strings.Repeat(name[:1], 64)
	return docker.Details{ID: id, Name: name, Hostname: name, Running: true, Labels: labels, NetworkMode: "bridge",
		Networks: map[string]docker.Endpoint{"bridge": {EndpointID: "ep-" + name, IPv4: netip.MustParseAddr(ip)}}, Ports: ports}
}

func TestLocatorEndpoint(t *testing.T) {
	dist := func(host uint16) []docker.Port {
		return []docker.Port{
			{Private: 9100, Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: host},
			{Private: 9100, Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: host},
		}
	}
	d := daemon{
		container("web", "172.17.0.2", nil, dist(32768)...),
		container("bare", "172.17.0.3", nil),
		container("two", "172.17.0.4", map[string]string{DistPortLabel: "9100"},
			append(dist(40000), docker.Port{Private: 80, Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 8080})...),
	}
	tests := []struct {
		mode Mode
		host string
		fam  wire.Family
		want string // Endpoint.String(), or "" with err
		err  error
	}{
		{Direct, "web", wire.Inet, "172.17.0.2", nil},
		{Direct, "bare", wire.Inet, "172.17.0.3", nil},
		{Direct, "web", wire.Inet6, "", wire.ErrNoAddress},
		{Direct, "nosuch", wire.Inet, "", wire.ErrNotFound},
		{Published, "web", wire.Inet, "127.0.0.1:32768", nil},
		// No IPv6 address of its own, but a binding on :: to dial.
		{Published, "web", wire.Inet6, "[::1]:32768", nil},
		{Published, "two", wire.Inet, "127.0.0.1:40000", nil},
		{Published, "bare", wire.Inet, "", wire.ErrNotPublished},
		{Published, "nosuch", wire.Inet, "", wire.ErrNotFound},
	}
	for _, tc := range tests {
		l := &Locator{Resolver: resolve.New(d, resolve.Config{}), Decider: &Decider{Mode: tc.mode}}
		if _, ok, _ := l.Peek(tc.host, tc.fam); ok {
			t.Errorf("%s %s: Peek answered before any decision", tc.mode, tc.host)
		}
		e, err := l.Endpoint(context.Background(), tc.host, tc.fam)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s %s %v: got %v, %v; want %v", tc.mode, tc.host, tc.fam, e, err, tc.err)
			}
			continue
		}
		if err != nil || e.String() != tc.want {
			t.Errorf("%s %s %v: got %v, %v; want %s", tc.mode, tc.host, tc.fam, e, err, tc.want)
		}
	}
}
