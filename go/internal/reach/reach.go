// Package reach decides how the helper tells the Erlang side to reach a
// container's node: directly, at the container's own address where its
// epmd is asked for the node's port, or through the container's published
// distribution port on the daemon's host, skipping epmd.
//
// Container addresses are routable only from the machine of a rootful,
// local Docker Engine. Docker Desktop runs containers in a VM; a rootless
// daemon keeps them in a network namespace of its own; a remote daemon's
// are on another machine. There only published ports can be reached, and
// DNS cannot carry a port; address_please/3 can ({ok, Ip, Port, 6}).
//
// The mode is EPMD_DOCKER_MODE:
//
//	direct     container addresses, epmd inside the container
//	published  published ports (resolve.DistPortLabel names the port)
//	tunnel     SSH tunnels to container addresses (tunnel.go); for a
//	           daemon reached over SSH only
//	auto       tunnel for a daemon reached over SSH (DOCKER_HOST ssh://),
//	           published for Docker Desktop, rootless and remote daemons,
//	           else direct (the default)
//
// A binding on all interfaces is reached at this host's loopback address,
// or at the daemon's host for a remote daemon (DOCKER_HOST tcp:// or
// ssh:// naming a host other than this one).
package reach

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Mode is a setting of EPMD_DOCKER_MODE, or, once decided, Direct or
// Published.
type Mode string

// The modes.
const (
	Auto      Mode = "auto"
	Direct    Mode = "direct"
	Published Mode = "published"
)

// EnvMode is the environment variable ModeFromEnv reads.
const EnvMode = "EPMD_DOCKER_MODE"

// ModeFromEnv reads EPMD_DOCKER_MODE; unset or empty is Auto.
func ModeFromEnv() (Mode, error) {
	return ParseMode(os.Getenv(EnvMode))
}

// ParseMode reads a mode setting; "" is Auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Auto, nil
	case Auto, Direct, Published, Tunnel:
		return m, nil
	}
	return "", fmt.Errorf("%s=%q: not one of auto, direct, published, tunnel", EnvMode, s)
}

// Decision is how containers are reached, and why.
type Decision struct {
	Mode Mode // Direct or Published
	// Remote is the daemon's host for a remote daemon, the address of
	// bindings on all interfaces; zero for a local daemon.
	Remote netip.Addr
	// RemoteName is the daemon's host as DOCKER_HOST names it; "" for a
	// local daemon.
	RemoteName string
	Why        string // for people: "EPMD_DOCKER_MODE=published", "rootless daemon", ...
}

// RemoteHost returns the host of a DOCKER_HOST that names another machine
// (tcp://, ssh://, http(s):// to other than localhost), or "" when the
// daemon is on this one.
func RemoteHost(dockerHost string) string {
	u, err := url.Parse(dockerHost)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "tcp", "ssh", "http", "https":
	default:
		return ""
	}
	h := u.Hostname()
	if h == "" || h == "localhost" {
		return ""
	}
	if a, err := netip.ParseAddr(h); err == nil && (a.IsLoopback() || a.IsUnspecified()) {
		return ""
	}
	return h
}

// InfoAPI tells the daemon's kind; *docker.Client implements it.
type InfoAPI interface {
	Info(ctx context.Context) (docker.Info, error)
}

// Decider decides the mode once and keeps the decision. A decision that
// needed the daemon and could not get it is not kept: Decide asks again
// next time.
type Decider struct {
	Mode       Mode    // the setting
	DockerHost string  // the daemon address in use (docker.Client.Host)
	API        InfoAPI // asked only in Auto mode for a local daemon
	// LookupHost resolves a remote daemon's host name; nil means
	// net.DefaultResolver.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)

	mu      sync.Mutex
	decided *Decision
}

// Decide returns how containers are reached.
func (d *Decider) Decide(ctx context.Context) (Decision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.decided != nil {
		return *d.decided, nil
	}
	dec, err := d.decide(ctx)
	if err != nil {
		return Decision{}, err
	}
	d.decided = &dec
	return dec, nil
}

func (d *Decider) decide(ctx context.Context) (Decision, error) {
	if dec, ok := tunnelled(d.Mode, d.DockerHost); ok {
		return dec, nil
	}
	var dec Decision
	if h := RemoteHost(d.DockerHost); h != "" {
		addr, err := d.lookup(ctx, h)
		if err != nil {
			return Decision{}, err
		}
		dec.Remote, dec.RemoteName = addr, h
	}
	switch {
	case d.Mode == Direct || d.Mode == Published:
		dec.Mode, dec.Why = d.Mode, EnvMode+"="+string(d.Mode)
		return dec, nil
	case dec.Remote.IsValid():
		dec.Mode, dec.Why = Published, "remote daemon at "+dec.RemoteName
		return dec, nil
	case d.API == nil:
		dec.Mode, dec.Why = Direct, "local daemon"
		return dec, nil
	}
	info, err := d.API.Info(ctx)
	if err != nil {
		return Decision{}, err
	}
	switch {
	case info.Desktop():
		dec.Mode, dec.Why = Published, "Docker Desktop"
	case info.Rootless():
		dec.Mode, dec.Why = Published, "rootless daemon"
	default:
		dec.Mode, dec.Why = Direct, "local daemon"
	}
	return dec, nil
}

// lookup resolves the remote daemon's host, preferring IPv4.
func (d *Decider) lookup(ctx context.Context, h string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), nil
	}
	look := d.LookupHost
	if look == nil {
		look = func(ctx context.Context, h string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		}
	}
	addrs, err := look(ctx, h)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("the docker daemon's host %s does not resolve: %w: %v", h, wire.ErrUnavailable, err)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return addrs[0], nil
}

// Way is how one container is reached.
type Way struct {
	Mode Mode           // Direct or Published
	Dial netip.AddrPort // Published: the host side to dial
	Err  error          // Published: why the container cannot be reached (wraps wire.ErrNotPublished or wire.ErrNoAddress)
}

// WayOf says how a container that publishes p is reached, for family fam.
func (dec Decision) WayOf(p resolve.Published, fam wire.Family) Way {
	if dec.Mode == Tunnel {
		return Way{Mode: Tunnel}
	}
	if dec.Mode != Published {
		return Way{Mode: Direct}
	}
	ap, err := p.Dial(fam, dec.Remote)
	return Way{Mode: Published, Dial: ap, Err: err}
}

// String is the way for people: "direct", "published 127.0.0.1:32768",
// "not published: ...".
func (w Way) String() string {
	switch {
	case w.Mode == Tunnel:
		return "tunnel"
	case w.Mode != Published:
		return "direct"
	case w.Err != nil:
		return "unreachable: " + w.Err.Error()
	}
	return "published " + w.Dial.String()
}
