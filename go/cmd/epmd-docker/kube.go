package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
	"github.com/epmd-docker/epmd_docker/go/internal/discover"
	"github.com/epmd-docker/epmd_docker/go/internal/kube"
	"github.com/epmd-docker/epmd_docker/go/internal/port"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// newCluster returns the Kubernetes backend, configured from the
// environment; it reads no kubeconfig until first used.
func newCluster(log *slog.Logger) (*kube.Cluster, error) {
	cfg, err := kube.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return &kube.Cluster{Config: cfg, Log: log, Self: probeName()}, nil
}

// dockerBackend is what port mode asks first: the Docker locator and its
// node finder.
type dockerBackend interface {
	port.Backend
	port.NodeFinder
}

// lookupChain is port mode's backend: Docker first, then, for a host that
// no running container answers to (or when Docker cannot be asked), the
// Kubernetes cluster of the kubeconfig's current context.
type lookupChain struct {
	docker dockerBackend
	kube   *kube.Cluster
	log    *slog.Logger
}

// askKube tells whether Docker's answer leaves the host to Kubernetes.
func askKube(err error) bool {
	return errors.Is(err, wire.ErrNotFound) || wire.ReasonOf(err) == wire.ReasonDockerUnavailable
}

// orDocker is Kubernetes' answer, or Docker's when Kubernetes knows no
// such pod (or there is no cluster).
func orDocker(derr, kerr error) error {
	if errors.Is(kerr, wire.ErrNotFound) {
		return derr
	}
	return kerr
}

func (l *lookupChain) Endpoint(ctx context.Context, host string, fam wire.Family) (wire.Endpoint, error) {
	e, err := l.docker.Endpoint(ctx, host, fam)
	if err == nil || !askKube(err) {
		return e, err
	}
	ke, kerr := l.kube.Endpoint(ctx, host, fam)
	if kerr == nil {
		return ke, nil
	}
	return wire.Endpoint{}, orDocker(err, kerr)
}

func (l *lookupChain) Peek(host string, fam wire.Family) (wire.Endpoint, bool, error) {
	e, ok, err := l.docker.Peek(host, fam)
	if !ok || err == nil || !askKube(err) {
		return e, ok, err
	}
	ke, ok, kerr := l.kube.Peek(host, fam)
	switch {
	case !ok:
		return wire.Endpoint{}, false, nil
	case kerr == nil:
		return ke, true, nil
	}
	return wire.Endpoint{}, true, orDocker(err, kerr)
}

func (l *lookupChain) List(ctx context.Context) ([]wire.Container, error) {
	return both(ctx, l, "list", l.docker.List, l.kube.List)
}

func (l *lookupChain) Nodes(ctx context.Context) ([]string, error) {
	out, err := both(ctx, l, "nodes", l.docker.Nodes, l.kube.Nodes)
	slices.Sort(out)
	return slices.Compact(out), err
}

// both asks Docker and Kubernetes at once, within the same deadline, and
// returns Docker's answer followed by Kubernetes': either may fail alone.
func both[T any](ctx context.Context, l *lookupChain, what string, fromDocker, fromKube func(context.Context) ([]T, error)) ([]T, error) {
	type answer struct {
		got []T
		err error
	}
	kch := make(chan answer, 1)
	go func() {
		got, err := fromKube(ctx)
		kch <- answer{got, err}
	}()
	got, err := fromDocker(ctx)
	k := <-kch
	switch {
	case k.err == nil:
		return append(got, k.got...), nil
	case errors.Is(k.err, kube.ErrNoKubeconfig):
		return got, err
	case err == nil:
		l.log.Warn("kubernetes pods left out of "+what, "err", k.err)
		return got, nil
	}
	return nil, err
}

// podAnswer is resolve's answer for a pod.
type podJSON struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	Hostname  string `json:"hostname"`
	Node      string `json:"node,omitempty"` // the cluster node it runs on
}

// resolvePod answers resolve for a host that Docker left to Kubernetes
// (derr is what Docker said): the pod, how it is reached, or Docker's
// error when no pod answers either.
func (c *resolveCmd) resolvePod(ctx context.Context, host string, fam wire.Family, derr error) (resolveAnswer, error) {
	cluster, err := newCluster(newLogger(c.std.err))
	if err != nil {
		return resolveAnswer{}, err
	}
	defer cluster.Close()
	m, kerr := cluster.Lookup(ctx, host)
	if kerr != nil {
		return resolveAnswer{}, orDocker(derr, kerr)
	}
	p := m.Pod
	ans := resolveAnswer{Host: host, Family: fam.String(), Network: "kubernetes pod network"}
	ans.Pod = &podJSON{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Hostname: kube.Hostname(p), Node: p.Spec.NodeName}
	ans.Matched = []string{string(m.Form)}
	kc, _ := cluster.Context()
	ans.Context = kc.Name
	direct, why := cluster.Direct(ctx, p)
	if direct {
		a, err := podAddr(p, fam)
		if err != nil {
			return resolveAnswer{}, err
		}
		ans.Address, ans.Reach = a.String(), "direct ("+why+")"
		return ans, nil
	}
	a, _ := podAddr(p, wire.Inet)
	ans.Address = a.String()
	port, err := cluster.DistPort(ctx, p)
	if err != nil {
		ans.Reach = "port-forward (" + why + "); its distribution port cannot be told: " + err.Error()
		return ans, nil
	}
	ans.Reach = "port-forward (" + why + ")"
	ans.Dial = fmt.Sprintf("a port-forward to port %d of the pod, opened by each Erlang node's helper as it connects", port)
	return ans, nil
}

// podAddr is the pod's address of family fam.
func podAddr(p *corev1.Pod, fam wire.Family) (netip.Addr, error) {
	c := kube.Container(p)
	if fam == wire.Inet && c.Addr.IsValid() {
		return c.Addr, nil
	}
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil && a.Is6() == (fam == wire.Inet6) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: pod %s.%s has no %v address", wire.ErrNoAddress, p.Name, p.Namespace, fam)
}

// locatePod is locate for a host that Docker left to Kubernetes (derr is
// what Docker said): the node in the pod it names, reached as port mode
// would reach it, its cookie checked.
func locatePod(ctx context.Context, std stdio, name, host, given string, fromContainer, ask bool, derr error) (located, error) {
	cluster, err := newCluster(newLogger(std.err))
	if err != nil {
		return located{}, err
	}
	defer cluster.Close()
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	m, kerr := cluster.Lookup(dctx, host)
	if kerr != nil {
		return located{}, resolveError(host, unavailable(orDocker(derr, kerr)))
	}
	p, where := m.Pod, m.Where()
	pctx, cancel := context.WithTimeout(ctx, remshTimeout)
	defer cancel()
	t, way := cluster.Target(pctx, p)
	found, err := discover.Find(pctx, t, probeName())
	if err != nil {
		return located{}, fmt.Errorf("%w: cannot ask the epmd in %s (%s): %w", errUnreachable, where, way, err)
	}
	node, err := pick(std, found, name, host, where, ask)
	if err != nil {
		return located{}, err
	}
	cookie, source, private, err := pickCookie(given, fromContainer, func() (string, string, error) {
		v, source, ok, err := cluster.Cookie(dctx, p)
		switch {
		case err != nil:
			return "", "", err
		case ok:
			return v, source, nil
		}
		if v, ok := setcookieArg(kube.CommandLine(p)); ok {
			return v, "-setcookie in the command line of " + where, nil
		}
		return "", "", fmt.Errorf("%s has no RELEASE_COOKIE or ERLANG_COOKIE in the environment of its containers, nor -setcookie in their command lines", where)
	})
	if err != nil {
		return located{}, err
	}
	return checkNode(pctx, std, node, located{where: where, cookie: cookie, source: source, private: private}, func(dial string) error {
		// The name the node gives must lead back to this pod.
		_, h, _ := strings.Cut(dial, "@")
		got, err := cluster.Lookup(dctx, h)
		if err != nil || got.Pod.UID != p.UID {
			return fmt.Errorf("%w: the node in %s calls itself %s, whose host does not name that pod (%v); start it with -sname NAME (host part %s)", errUnreachable, where, cli.Safe(dial), err, kube.Hostname(p))
		}
		return nil
	})
}

// podNetwork is the NETWORK that ls and resolve show for a pod.
const podNetwork = "pod"

// listPods returns ls's entries for the running pods of the current
// Kubernetes context's namespace, each with the nodes found in it the way
// port mode reaches it; none when there is no kubeconfig.
func listPods(ctx context.Context, log *slog.Logger, probeTimeout time.Duration) ([]containerEntry, error) {
	if len(kube.Kubeconfig()) == 0 {
		return nil, nil
	}
	cluster, err := newCluster(log)
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	ps, err := cluster.Running(dctx)
	if err != nil {
		return nil, err
	}
	entries := make([]containerEntry, len(ps))
	ts := make([]discover.Target, len(ps))
	for i, p := range ps {
		c := kube.Container(p)
		e := &entries[i]
		e.containerJSON = containerJSON{ID: c.ID, ShortID: "pod", Name: c.Name, Hostname: c.Hostname}
		e.Pod = &podJSON{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Hostname: c.Hostname, Node: p.Spec.NodeName}
		e.Networks, e.Nodes = []networkEntry{}, []nodeEntry{}
		if c.Addr.IsValid() {
			e.Address, e.Network = c.Addr.String(), podNetwork
			e.Networks = append(e.Networks, networkEntry{Network: podNetwork, IPv4: c.Addr.String()})
		}
		ts[i], e.Reach = cluster.Target(dctx, p)
	}
	for i, res := range discover.FindAll(dctx, ts, probeName(), probeTimeout) {
		e := &entries[i]
		e.EPMD, e.EPMDError = probeState(res.Err)
		e.Dropped = res.Dropped
		for _, n := range res.Nodes {
			e.Nodes = append(e.Nodes, nodeEntry{Name: n.Name, Node: n.Node, Port: n.Port})
		}
	}
	return entries, nil
}
