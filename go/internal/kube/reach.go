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
	p := m.Pod
	if direct, _ := c.Direct(ctx, p); direct {
		a, err := addrOf(p, fam)
		if err != nil {
			return wire.Endpoint{}, err
		}
		c.remember(host, p.UID)
		return wire.Endpoint{Addr: a}, nil
	}
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
	nodes, err := epmd.Names(ctx, local)
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
