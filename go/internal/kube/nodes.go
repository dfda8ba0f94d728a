package kube

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/epmd-docker/epmd_docker/go/internal/discover"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Running returns the running pods of the context's namespace, sorted by
// name. With no cluster it returns ErrNoKubeconfig (wrapped).
func (c *Cluster) Running(ctx context.Context) ([]*corev1.Pod, error) {
	if err := c.start(); err != nil {
		return nil, err
	}
	ps, err := c.pods.list(ctx, c.kctx.Namespace)
	if err != nil {
		return nil, err
	}
	ps = slices.DeleteFunc(ps, func(p *corev1.Pod) bool { return !running(p) })
	slices.SortFunc(ps, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return ps, nil
}

// Container is a pod as the list command describes it: its UID, its name
// as POD.NAMESPACE (a name it resolves by), its hostname and address.
func Container(p *corev1.Pod) wire.Container {
	a, _ := addrOf(p, wire.Inet)
	return wire.Container{ID: string(p.UID), Name: p.Name + "." + p.Namespace, Hostname: hostnameOf(p), Addr: a}
}

// Hostname is what a node in the pod calls its host by default.
func Hostname(p *corev1.Pod) string { return hostnameOf(p) }

// List returns the running pods of the context's namespace, as the list
// command describes containers.
func (c *Cluster) List(ctx context.Context) ([]wire.Container, error) {
	ps, err := c.Running(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Container, len(ps))
	for i, p := range ps {
		out[i] = Container(p)
	}
	return out, nil
}

// Target is how discover finds the nodes in pod p: at its address, or
// through port-forwards (opened within ctx) to its epmd and each node.
// way says which, for people: "direct" or "port-forward".
func (c *Cluster) Target(ctx context.Context, p *corev1.Pod) (t discover.Target, way string) {
	a, _ := addrOf(p, wire.Inet)
	t = discover.Target{Addr: a, Hostname: hostnameOf(p), Way: reach.Way{Mode: reach.Direct, Addr: a}}
	if direct, _ := c.Direct(ctx, p); direct {
		return t, "direct"
	}
	t.Via = func(ap netip.AddrPort) netip.AddrPort {
		// A forward that cannot be opened leaves the address as it is:
		// the dial then fails, and says where it went.
		if local, err := c.Forward(ctx, p, ap.Port()); err == nil {
			return local
		}
		return ap
	}
	return t, "port-forward"
}

// Nodes returns the names of the nodes in the running pods of the
// context's namespace, sorted; a pod whose nodes cannot be found adds
// none. With no cluster it returns none.
func (c *Cluster) Nodes(ctx context.Context) ([]string, error) {
	ps, err := c.Running(ctx)
	if err != nil {
		return nil, err
	}
	ts := make([]discover.Target, len(ps))
	for i, p := range ps {
		ts[i], _ = c.Target(ctx, p)
	}
	probe := time.Second
	if dl, ok := ctx.Deadline(); ok {
		probe = time.Until(dl) / 3
	}
	var out []string
	for _, r := range discover.FindAll(ctx, ts, c.Self, probe) {
		for _, n := range r.Nodes {
			out = append(out, n.Node)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
