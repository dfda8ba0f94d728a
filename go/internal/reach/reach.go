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
//	published  published ports (DistPortLabel names the port)
//	tunnel     SSH tunnels to container addresses (tunnel.go); for a
//	           daemon reached over SSH only
//	auto       tunnel for a daemon reached over SSH (DOCKER_HOST ssh://),
//	           published for Docker Desktop, rootless and other remote
//	           daemons, and for networks whose container addresses this
//	           host does not reach (probed); else direct (the default)
//
// A binding on all interfaces is reached at this host's loopback address,
// or at the daemon's host for a remote daemon (DOCKER_HOST tcp:// or
// ssh:// naming a host other than this one).
//
// On a Swarm node, a container on an overlay network (a task, or one
// attached to an attachable overlay) is reached at its docker_gwbridge
// address, and tasks on other nodes through host-mode published ports
// (swarm.go). The probes of auto mode are in probe.go.
package reach

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
	Mode Mode // Direct, Published, or Auto: per network, by Decider.Way
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

// Bounds of the decisions made off the lookup path.
const (
	// ProbeTimeout bounds the TCP connect that tells whether this host
	// routes to a network's container addresses. A container on a
	// bridge of this host answers (or refuses) within a millisecond; the
	// margin is for a loaded machine, where a verdict of "unreachable"
	// by mistake would cost every container on the network. It fits in
	// a lookup's own deadline (EPMD_DOCKER_TIMEOUT, 2 s by default).
	ProbeTimeout = time.Second
	// ProbePort is the port probed: the container's epmd.
	ProbePort = 4369
	// VerdictTTL is how long a network's verdict stands before it is
	// probed again; the old verdict is used meanwhile.
	VerdictTTL = time.Minute
	// InfoTimeout bounds the /info request that tells Docker Desktop and
	// rootless daemons; it never delays a lookup.
	InfoTimeout = 10 * time.Second
	// infoRetry is how long after a failed /info it is asked again.
	infoRetry = 5 * time.Second
	// gatewayMissTTL is how old the docker_gwbridge addresses may be when
	// a container that is not a Swarm task is missing from them: it may
	// have been attached to an attachable overlay since.
	gatewayMissTTL = 200 * time.Millisecond
	// maxVerdicts bounds the verdicts kept, one per network.
	maxVerdicts = 1024
)

// GatewayAPI tells Swarm tasks' addresses on the node's docker_gwbridge;
// *docker.Client implements it.
type GatewayAPI interface {
	Gateways(ctx context.Context) (map[string]netip.Addr, error)
}

// Decider decides how containers are reached and keeps the decision.
//
// The settings direct and published decide by themselves, and so does a
// remote daemon (published). For a local daemon in auto mode nothing on the
// lookup path waits for /info: the daemon's kind is asked once in the
// background (Docker Desktop and rootless daemons are published), and until
// it answers, or when it says a plain engine, each network's container
// addresses are probed once (Way): a short TCP connect to a container's
// epmd. Where this host does not reach them, as with colima, Lima, Rancher
// Desktop or Podman machine, whose daemons report a local Linux engine,
// the published port is used.
type Decider struct {
	Mode       Mode    // the setting
	DockerHost string  // the daemon address in use (docker.Client.Host)
	API        InfoAPI // asked only in Auto mode for a local daemon
	// LookupHost resolves a remote daemon's host name; nil means
	// net.DefaultResolver.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
	// Probe tells whether this host reaches addr; nil means a TCP
	// connect within ProbeTimeout (see Reachable).
	Probe func(ctx context.Context, addr netip.AddrPort) bool
	// Gateways tells Swarm tasks' docker_gwbridge addresses; nil: none.
	Gateways GatewayAPI
	// Changed, when set, is called (on a goroutine of its own) when a
	// decision changes after it was used, so that copies of earlier
	// answers can be dropped.
	Changed func()

	mu         sync.Mutex
	decided    *Decision
	kind       *Decision     // from /info: Published for Docker Desktop or rootless
	infoDone   chan struct{} // while an /info request runs: closed when it ends
	askAfter   time.Time     // no /info request before
	used       bool          // an answer was given from the decisions
	verdicts   map[string]verdict
	probing    map[string]chan struct{}
	gateways   map[string]netip.Addr // by container ID, as last asked
	gatewaysAt time.Time
}

// Decide returns how containers are reached. Its Mode is Direct,
// Published, or Auto: decided per network by Way. It never waits for
// /info (Settle does); for a remote daemon it may resolve the daemon's
// host name.
func (d *Decider) Decide(ctx context.Context) (Decision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.decided == nil {
		dec, err := d.decide(ctx)
		if err != nil {
			return Decision{}, err
		}
		d.decided = &dec
	}
	if d.decided.Mode != Auto {
		return *d.decided, nil
	}
	if d.kind != nil {
		return *d.kind, nil
	}
	d.askInfoLocked()
	return *d.decided, nil
}

// Settle waits until the daemon's kind is known (or /info failed, or ctx
// ended), for the commands, whose answers should not depend on how fast
// /info was.
func (d *Decider) Settle(ctx context.Context) {
	if dec, err := d.Decide(ctx); err != nil || dec.Mode != Auto || d.API == nil {
		return
	}
	d.mu.Lock()
	if d.kind != nil {
		d.mu.Unlock()
		return
	}
	if d.infoDone == nil {
		d.askAfter = time.Time{}
		d.askInfoLocked()
	}
	done := d.infoDone
	d.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
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
	case dec.Remote.IsValid():
		dec.Mode, dec.Why = Published, "remote daemon at "+dec.RemoteName
	default:
		dec.Mode, dec.Why = Auto, "local daemon"
	}
	return dec, nil
}

// askInfoLocked starts the background /info request, unless one runs or
// the last one failed a moment ago.
func (d *Decider) askInfoLocked() {
	if d.API == nil || d.infoDone != nil || time.Now().Before(d.askAfter) {
		return
	}
	done := make(chan struct{})
	d.infoDone = done
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), InfoTimeout)
		defer cancel()
		d.kindFromInfo(ctx)
	}()
}

// kindFromInfo asks /info and keeps what it says.
func (d *Decider) kindFromInfo(ctx context.Context) {
	info, err := d.API.Info(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.infoDone = nil
	if err != nil {
		d.askAfter = time.Now().Add(infoRetry)
		return
	}
	if d.kind != nil || d.decided == nil {
		return
	}
	dec := *d.decided
	switch {
	case info.Desktop():
		dec.Mode, dec.Why = Published, "Docker Desktop"
	case info.Rootless():
		dec.Mode, dec.Why = Published, "rootless daemon"
	default:
		dec.Why = "local daemon on " + orUnknown(info.OperatingSystem)
	}
	d.kind = &dec
	if dec.Mode == Published {
		d.changedLocked()
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown system"
	}
	return s
}

// changedLocked reports a changed decision, if an answer used the old one.
func (d *Decider) changedLocked() {
	if d.used && d.Changed != nil {
		go d.Changed()
	}
}

// Way says how the match m is reached for family fam: as Decide says, and
// in Auto mode by whether this host reaches m's network (probed once per
// network, and again in the background every VerdictTTL).
func (d *Decider) Way(ctx context.Context, m resolve.Match, fam wire.Family) (Way, error) {
	dec, err := d.Decide(ctx)
	if err != nil {
		return Way{}, err
	}
	d.mu.Lock()
	d.used = true
	d.mu.Unlock()
	if overlayCandidate(dec, m, fam) {
		if gw, ok := d.gateway(ctx, m.Container.ID, m.Labels[SwarmTaskLabel] != ""); ok {
			return gatewayWay(m, gw), nil
		}
	}
	return finish(dec, m, fam, d.reachable(ctx, m)), nil
}

// Known is Way from what the decider knows already, for answers from
// memory: it never waits, probes or asks Docker. ok is false when only Way
// can tell.
func (d *Decider) Known(m resolve.Match, fam wire.Family) (w Way, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.decided == nil {
		return Way{}, false
	}
	dec := *d.decided
	if dec.Mode == Auto && d.kind != nil {
		dec = *d.kind
	}
	if overlayCandidate(dec, m, fam) && d.Gateways != nil {
		if gw, ok := d.gateways[m.Container.ID]; ok {
			d.used = true
			return gatewayWay(m, gw), true
		}
		if m.Labels[SwarmTaskLabel] != "" || time.Since(d.gatewaysAt) >= gatewayMissTTL {
			return Way{}, false
		}
	}
	reachable := true
	if dec.Mode == Auto && !alwaysReachable(m) {
		v, ok := d.verdicts[m.Network]
		if !ok || time.Since(v.at) >= VerdictTTL {
			return Way{}, false
		}
		reachable = v.reachable
	}
	d.used = true
	return finish(dec, m, fam, reachable), true
}

// overlayCandidate tells whether m may be a container on an overlay
// network (a Swarm task, or one attached to an attachable overlay), which
// is not routed from its node at its overlay address: the node reaches it
// on docker_gwbridge, where only such containers have endpoints.
func overlayCandidate(dec Decision, m resolve.Match, fam wire.Family) bool {
	return dec.Mode != Published && dec.Mode != Tunnel && m.Network != "host" && fam == wire.Inet
}

// gatewayWay is the way to m at its docker_gwbridge address gw.
func gatewayWay(m resolve.Match, gw netip.Addr) Way {
	what := "container on an overlay network"
	if svc := m.Labels[resolve.SwarmServiceLabel]; svc != "" {
		what = "Swarm task of service " + svc
	}
	return Way{Mode: Direct, Addr: gw, Why: fmt.Sprintf("%s: its %s address, as this node reaches it (%s's address %v is not routed here)",
		what, docker.GatewayBridge, m.Network, m.Addr)}
}

// gateway returns container id's docker_gwbridge address. The addresses
// are asked of the daemon again when id is not among them, at once for a
// Swarm task (a new one), at most every gatewayMissTTL for other containers,
// which mostly have none.
func (d *Decider) gateway(ctx context.Context, id string, task bool) (netip.Addr, bool) {
	if d.Gateways == nil {
		return netip.Addr{}, false
	}
	d.mu.Lock()
	gw, ok := d.gateways[id]
	fresh := time.Since(d.gatewaysAt) < gatewayMissTTL
	d.mu.Unlock()
	if ok || fresh && !task {
		return gw, ok
	}
	all, err := d.Gateways.Gateways(ctx)
	if err != nil {
		return netip.Addr{}, false
	}
	d.mu.Lock()
	d.gateways, d.gatewaysAt = all, time.Now()
	d.mu.Unlock()
	gw, ok = all[id]
	return gw, ok
}

// finish is the way to m under dec, with an Auto decision settled by
// whether m's network is reachable from here.
func finish(dec Decision, m resolve.Match, fam wire.Family, reachable bool) Way {
	if dec.Mode == Auto {
		dec.Mode, dec.Why = Direct, dec.Why+"; network "+m.Network+" reachable from here"
		if !reachable {
			dec.Mode, dec.Why = Published, "network "+m.Network+" not reachable from here"
		}
	}
	w := dec.WayOf(PublishedPortsOf(m), fam)
	w.Why = dec.Why
	if w.Mode == Direct {
		w.Addr = m.Addr
	}
	return w
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
	Addr netip.Addr     // Direct, from Decider.Way: the address to ask epmd at (the container's, or a Swarm task's gateway address)
	Dial netip.AddrPort // Published: the host side to dial
	Err  error          // Published: why the container cannot be reached (wraps wire.ErrNotPublished or wire.ErrNoAddress)
	Why  string         // from Decider.Way: why this way, for people
}

// WayOf says how a container that publishes p is reached, for family fam,
// under a decision whose Mode is Direct or Published (Auto counts as
// Direct: Decider.Way decides it per network).
func (dec Decision) WayOf(p PublishedPorts, fam wire.Family) Way {
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
