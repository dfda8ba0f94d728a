package reach

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

type fakeInfo struct {
	info  docker.Info
	err   error
	calls int
}

func (f *fakeInfo) Info(context.Context) (docker.Info, error) {
	f.calls++
	return f.info, f.err
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, " Published ": Published, "direct": Direct} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseMode("nat"); err == nil {
		t.Error("ParseMode(nat): no error")
	}
}

func TestRemoteHost(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///var/run/docker.sock": "",
		"tcp://127.0.0.1:2375":        "",
		"tcp://localhost:2375":        "",
		"tcp://[::1]:2375":            "",
		"tcp://192.0.2.7:2376":        "192.0.2.7",
		"ssh://me@build.example":      "build.example",
		"npipe:////./pipe/docker":     "",
	} {
		if got := RemoteHost(in); got != want {
			t.Errorf("RemoteHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecide(t *testing.T) {
	local := "unix:///var/run/docker.sock"
	tests := []struct {
		name string
		mode Mode
		host string
		info docker.Info
		want Mode
	}{
		{"auto, local engine", Auto, local, docker.Info{OperatingSystem: "Debian GNU/Linux 12 (bookworm)"}, Auto},
		{"auto, desktop", Auto, local, docker.Info{OperatingSystem: "Docker Desktop"}, Published},
		{"auto, rootless", Auto, local, docker.Info{SecurityOptions: []string{"name=seccomp,profile=builtin", "name=rootless"}}, Published},
		{"auto, remote", Auto, "tcp://192.0.2.7:2376", docker.Info{}, Published},
		{"forced published", Published, local, docker.Info{}, Published},
		{"forced direct, desktop", Direct, local, docker.Info{OperatingSystem: "Docker Desktop"}, Direct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeInfo{info: tt.info}
			d := &Decider{Mode: tt.mode, DockerHost: tt.host, API: f}
			d.Settle(context.Background())
			for range 2 {
				got, err := d.Decide(context.Background())
				if err != nil || got.Mode != tt.want {
					t.Fatalf("got %+v, %v; want %v", got, err, tt.want)
				}
			}
			if f.calls > 1 {
				t.Errorf("asked the daemon %d times, want at most once", f.calls)
			}
		})
	}
}

func TestDecideRetriesAfterFailure(t *testing.T) {
	f := &fakeInfo{err: wire.ErrUnavailable}
	d := &Decider{Mode: Auto, DockerHost: "unix:///var/run/docker.sock", API: f}
	d.Settle(context.Background())
	if got, err := d.Decide(context.Background()); err != nil || got.Mode != Auto {
		t.Fatalf("/info failed: got %+v, %v; want auto (probe per network)", got, err)
	}
	f.err, f.info = nil, docker.Info{OperatingSystem: "Docker Desktop"}
	d.Settle(context.Background())
	if got, err := d.Decide(context.Background()); err != nil || got.Mode != Published {
		t.Fatalf("after the daemon answered: got %+v, %v", got, err)
	}
}

// blockedInfo is a daemon whose /info does not answer until released:
// measured, a 2 s /info made every lookup in auto mode time out.
type blockedInfo struct {
	release chan struct{}
	os      string // "" for Debian's
}

func (b blockedInfo) Info(ctx context.Context) (docker.Info, error) {
	<-b.release
	if b.os != "" {
		return docker.Info{OperatingSystem: b.os}, nil
	}
	return docker.Info{OperatingSystem: "Debian GNU/Linux 12 (bookworm)"}, nil
}

// within fails the test if f has not returned after a bound far above
// anything it may take; it never passes by being fast enough.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited for /info", what)
	}
}

func TestDecideDoesNotWaitForInfo(t *testing.T) {
	b := blockedInfo{release: make(chan struct{})}
	defer close(b.release)
	d := &Decider{Mode: Auto, DockerHost: "unix:///var/run/docker.sock", API: b}
	within(t, "Decide", func() {
		if _, err := d.Decide(context.Background()); err != nil {
			t.Errorf("Decide: %v", err)
		}
	})
}

func match(network, addr string, hostPort uint16) resolve.Match {
	m := resolve.Match{Network: network, Addr: netip.MustParseAddr(addr)}
	if hostPort != 0 {
		m.Ports = []docker.Port{{Private: 9100, Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort}}
	}
	return m
}

func TestWayProbesEachNetworkOnce(t *testing.T) {
	b := blockedInfo{release: make(chan struct{})}
	defer close(b.release)
	var mu sync.Mutex
	probed := map[netip.AddrPort]int{}
	d := &Decider{Mode: Auto, DockerHost: "unix:///var/run/docker.sock", API: b,
		Probe: func(_ context.Context, ap netip.AddrPort) bool {
			mu.Lock()
			defer mu.Unlock()
			probed[ap]++
			return ap.Addr().As4()[1] == 17 // 172.17.0.0/16 is routed here, 192.168.0.0/16 is in a VM
		}}
	tests := []struct {
		m    resolve.Match
		want Way
	}{
		{match("bridge", "172.17.0.2", 0), Way{Mode: Direct}},
		{match("bridge", "172.17.0.3", 0), Way{Mode: Direct}},
		{match("vm", "192.168.5.2", 32768), Way{Mode: Published, Dial: netip.MustParseAddrPort("127.0.0.1:32768")}},
		{match("vm", "192.168.5.3", 32769), Way{Mode: Published, Dial: netip.MustParseAddrPort("127.0.0.1:32769")}},
		{match("host", "127.0.0.1", 0), Way{Mode: Direct}},
	}
	within(t, "Way", func() {
		for _, tt := range tests {
			got, err := d.Way(context.Background(), tt.m, wire.Inet)
			if err != nil || got.Mode != tt.want.Mode || got.Dial != tt.want.Dial || got.Err != nil {
				t.Errorf("Way(%s %v) = %+v, %v; want %+v", tt.m.Network, tt.m.Addr, got, err, tt.want)
			}
		}
	})
	want := map[netip.AddrPort]int{netip.MustParseAddrPort("172.17.0.2:4369"): 1, netip.MustParseAddrPort("192.168.5.2:4369"): 1}
	if !maps.Equal(probed, want) {
		t.Errorf("probed %v, want %v (once per network, never the host network)", probed, want)
	}
}

func TestWayUnpublishedInUnreachableNetwork(t *testing.T) {
	d := &Decider{Mode: Auto, DockerHost: "unix:///var/run/docker.sock",
		Probe: func(context.Context, netip.AddrPort) bool { return false }}
	got, err := d.Way(context.Background(), match("vm", "192.168.5.2", 0), wire.Inet)
	if err != nil || got.Mode != Published || !errors.Is(got.Err, wire.ErrNotPublished) || !strings.Contains(got.Why, "vm") {
		t.Fatalf("got %+v, %v; want published, not_published, why naming the network", got, err)
	}
}

func TestReachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(l.Addr().String())
	if !Reachable(context.Background(), ap) {
		t.Errorf("a listening port: not reachable")
	}
	l.Close()
	if !Reachable(context.Background(), ap) {
		t.Errorf("a refused port: not reachable, though the address answered")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Reachable(ctx, netip.MustParseAddrPort("192.0.2.1:4369")) {
		t.Errorf("a probe that did not finish: reachable")
	}
}

func TestDecideRemoteName(t *testing.T) {
	d := &Decider{Mode: Auto, DockerHost: "tcp://build.example:2376",
		LookupHost: func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.9")}, nil
		}}
	got, err := d.Decide(context.Background())
	if err != nil || got.Mode != Published || got.Remote != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("got %+v, %v; want published at 192.0.2.9", got, err)
	}
}

// TestChangedAfterUse: /info answering late that this is Docker Desktop
// changes answers already given, and says so.
func TestChangedAfterUse(t *testing.T) {
	b := blockedInfo{release: make(chan struct{}), os: "Docker Desktop"}
	changed := make(chan struct{}, 4)
	d := &Decider{Mode: Auto, DockerHost: "unix:///var/run/docker.sock", API: b,
		Probe:   func(context.Context, netip.AddrPort) bool { return true },
		Changed: func() { changed <- struct{}{} }}
	if w, err := d.Way(context.Background(), match("bridge", "172.17.0.2", 32768), wire.Inet); err != nil || w.Mode != Direct {
		t.Fatalf("before /info: got %+v, %v; want direct", w, err)
	}
	close(b.release)
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported after /info said Docker Desktop")
	}
	if w, err := d.Way(context.Background(), match("bridge", "172.17.0.2", 32768), wire.Inet); err != nil || w.Mode != Published {
		t.Fatalf("after /info: got %+v, %v; want published", w, err)
	}
}

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
