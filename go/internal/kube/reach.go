package kube

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/epmd-docker/epmd_docker/go/internal/epmd"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// DistPortName is the name of the container port that, when a pod has
// one, is its node's distribution port: a port-forward goes there without
// asking the pod's epmd first.
const DistPortName = "erlang-dist"

// verdict is whether this host routes to the pods of one cluster node.
type verdict struct {
	reachable bool
	at        time.Time
}

// Direct tells whether pod p is dialled at its own address: as the reach
// setting says, and in auto mode as a probe of its epmd port says (once
// per cluster node, again after reach.VerdictTTL; a refused connection
// counts as routed, as for Docker networks). why is for people.
func (c *Cluster) Direct(ctx context.Context, p *corev1.Pod) (direct bool, why string) {
	switch c.Config.Reach {
	case ReachDirect:
		return true, EnvReach + "=direct"
	case ReachForward:
		return false, EnvReach + "=forward"
	}
	if v, ok := c.verdict(p); ok {
		return v, reachWhy(v)
	}
	addr, err := addrOf(p, wire.Inet)
	if err != nil {
		return false, "no IPv4 pod address"
	}
	pctx, cancel := context.WithTimeout(ctx, reach.ProbeTimeout)
	ok := reach.Reachable(pctx, netip.AddrPortFrom(addr, reach.ProbePort))
	cancel()
	if ctx.Err() == nil {
		c.mu.Lock()
		if c.verdicts == nil || len(c.verdicts) > 1024 {
			c.verdicts = map[string]verdict{}
		}
		c.verdicts[p.Status.HostIP] = verdict{reachable: ok, at: time.Now()}
		c.mu.Unlock()
	}
	return ok, reachWhy(ok)
}

func reachWhy(direct bool) string {
	if direct {
		return "pod addresses are routed here"
	}
	return "pod addresses are not routed here"
}

// verdict is the standing verdict for p's node.
func (c *Cluster) verdict(p *corev1.Pod) (reachable, ok bool) {
	switch c.Config.Reach {
	case ReachDirect:
		return true, true
	case ReachForward:
		return false, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.verdicts[p.Status.HostIP]
	return v.reachable, ok && time.Since(v.at) < reach.VerdictTTL
}

// Endpoint returns where node@host is reached, if host names a pod: its
// address (ask its epmd), or the local end of a port-forward to its
// node's distribution port. Errors are Lookup's, or wrap
// wire.ErrNoAddress or wire.ErrUnavailable.
func (c *Cluster) Endpoint(ctx context.Context, host string, fam wire.Family) (wire.Endpoint, error) {
	m, err := c.Lookup(ctx, host)
	if err != nil {
		return wire.Endpoint{}, err
	}
	direct, known := c.verdict(m.Pod)
	switch {
	case known && direct:
		return c.direct(host, m.Pod, fam)
	case known:
		return c.forwarded(ctx, host, m, fam)
	}
	return c.probeOrForward(ctx, host, m, fam)
}

// probeHeadStart is how long the first probe of a cluster node's pods runs
// alone before a port-forward is opened beside it: a routed pod answers
// (or refuses) in a millisecond or two, an unrouted one not at all.
const probeHeadStart = 50 * time.Millisecond

// probeOrForward is Endpoint in auto mode with no standing verdict for the
// pod's node. The probe gets a head start; if it has not spoken by then, a
// port-forward is opened beside it, and whichever answers first is used.
// Before, the probe ran out its whole second first, and a connection with
// a short timeout (or the 1.5 s a lookup has) failed on an unrouted pod
// network before the forward was even asked for. The probe is detached
// from ctx, so that its verdict is kept for the next lookups either way.
func (c *Cluster) probeOrForward(ctx context.Context, host string, m Match, fam wire.Family) (wire.Endpoint, error) {
	probe := make(chan bool, 1)
	go func() {
		d, _ := c.Direct(context.WithoutCancel(ctx), m.Pod)
		probe <- d
	}()
	head := time.NewTimer(probeHeadStart)
	defer head.Stop()
	select {
	case d := <-probe:
		return c.decided(ctx, host, m, fam, d)
	case <-head.C:
	case <-ctx.Done():
		return wire.Endpoint{}, ctx.Err()
	}
	if fam != wire.Inet {
		// A forward listens on IPv4 loopback only: only the probe can
		// tell.
		select {
		case d := <-probe:
			return c.decided(ctx, host, m, fam, d)
		case <-ctx.Done():
			return wire.Endpoint{}, ctx.Err()
		}
	}
	type result struct {
		e   wire.Endpoint
		err error
	}
	fwd := make(chan result, 1)
	go func() {
		e, err := c.forwarded(ctx, host, m, fam)
		fwd <- result{e, err}
	}()
	select {
	case d := <-probe:
		if d {
			return c.direct(host, m.Pod, fam)
		}
		select {
		case r := <-fwd:
			return r.e, r.err
		case <-ctx.Done():
			return wire.Endpoint{}, ctx.Err()
		}
	case r := <-fwd:
		if r.err == nil {
			return r.e, nil
		}
		// The forward failed: the probe may still say routed.
		select {
		case d := <-probe:
			if d {
				return c.direct(host, m.Pod, fam)
			}
			return r.e, r.err
		case <-ctx.Done():
			return wire.Endpoint{}, r.err
		}
	case <-ctx.Done():
		return wire.Endpoint{}, ctx.Err()
	}
}

// decided is Endpoint once the probe has said whether pods are routed.
func (c *Cluster) decided(ctx context.Context, host string, m Match, fam wire.Family, direct bool) (wire.Endpoint, error) {
	if direct {
		return c.direct(host, m.Pod, fam)
	}
	return c.forwarded(ctx, host, m, fam)
}

// direct is the pod's own address: its epmd is asked for the node's port.
func (c *Cluster) direct(host string, p *corev1.Pod, fam wire.Family) (wire.Endpoint, error) {
	a, err := addrOf(p, fam)
	if err != nil {
		return wire.Endpoint{}, err
	}
	c.remember(host, p.UID)
	return wire.Endpoint{Addr: a}, nil
}

// forwarded is the local end of a port-forward to the pod's node.
func (c *Cluster) forwarded(ctx context.Context, host string, m Match, fam wire.Family) (wire.Endpoint, error) {
	p := m.Pod
	if fam != wire.Inet {
		return wire.Endpoint{}, fmt.Errorf("%w: %s is reached through a port-forward, which listens on IPv4 loopback only", wire.ErrNoAddress, m.Where())
	}
	port, err := c.DistPort(ctx, p)
	if err != nil {
		return wire.Endpoint{}, err
	}
	local, err := c.Forward(ctx, p, port)
	if err != nil {
		return wire.Endpoint{}, err
	}
	c.remember(host, p.UID)
	return wire.Endpoint{Addr: local.Addr(), Port: local.Port()}, nil
}

// Peek is Endpoint from memory, never waiting: answered is false when
// only Endpoint can tell.
func (c *Cluster) Peek(host string, fam wire.Family) (e wire.Endpoint, answered bool, err error) {
	m, ok, err := c.peek(host)
	switch {
	case !ok:
		return wire.Endpoint{}, false, nil
	case err != nil:
		return wire.Endpoint{}, true, err
	}
	p := m.Pod
	direct, ok := c.verdict(p)
	if !ok {
		return wire.Endpoint{}, false, nil
	}
	if direct {
		a, err := addrOf(p, fam)
		if err == nil {
			c.remember(host, p.UID)
		}
		return wire.Endpoint{Addr: a}, true, err
	}
	port, ok := c.knownPort(p)
	if !ok || fam != wire.Inet {
		return wire.Endpoint{}, false, nil
	}
	local, ok := c.fwd.get(fwdKey{UID: p.UID, Namespace: p.Namespace, Pod: p.Name, Port: port})
	if !ok {
		return wire.Endpoint{}, false, nil
	}
	c.remember(host, p.UID)
	return wire.Endpoint{Addr: local.Addr(), Port: local.Port()}, true, nil
}

// Forward returns the local end of a port-forward to port of pod p,
// opening one if none is open.
func (c *Cluster) Forward(ctx context.Context, p *corev1.Pod, port uint16) (netip.AddrPort, error) {
	return c.fwd.Open(ctx, fwdKey{UID: p.UID, Namespace: p.Namespace, Pod: p.Name, Port: port})
}

// namedPort is the pod's container port named DistPortName, if any.
func namedPort(p *corev1.Pod) (uint16, bool) {
	for _, ct := range p.Spec.Containers {
		for _, cp := range ct.Ports {
			if cp.Name == DistPortName && cp.ContainerPort > 0 && cp.ContainerPort < 65536 {
				return uint16(cp.ContainerPort), true
			}
		}
	}
	return 0, false
}

// knownPort is the pod's distribution port, if known without asking.
func (c *Cluster) knownPort(p *corev1.Pod) (uint16, bool) {
	if port, ok := namedPort(p); ok {
		return port, true
	}
	return c.ports.Get(p.UID)
}

// DistPort returns the distribution port of the node in pod p: its
// container port named DistPortName, else the one its epmd tells, asked
// through a port-forward of port 4369. A pod reached this way runs one
// node, as address_please/3 does not tell which of several is wanted.
func (c *Cluster) DistPort(ctx context.Context, p *corev1.Pod) (uint16, error) {
	if port, ok := c.knownPort(p); ok {
		return port, nil
	}
	where := "pod " + p.Name + "." + p.Namespace
	local, err := c.Forward(ctx, p, epmd.DefaultPort)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	// Through the forward the daemon's close comes a second late.
	nodes, err := epmd.NamesThrough(ctx, local, epmd.RelayQuiet)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: cannot ask its epmd through a port-forward: %v", where, wire.ErrUnavailable, err)
	}
	switch len(nodes) {
	case 0:
		return 0, fmt.Errorf("%s: %w: no Erlang node is registered with its epmd", where, wire.ErrNoAddress)
	case 1:
	default:
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.Name
		}
		return 0, fmt.Errorf("%s: %w: it runs several nodes (%s), and a port-forward serves one; name the distribution port %q", where, wire.ErrNoAddress, strings.Join(names, ", "), DistPortName)
	}
	port := uint16(nodes[0].Port)
	c.ports.Add(p.UID, port)
	return port, nil
}
