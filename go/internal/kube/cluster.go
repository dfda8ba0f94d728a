package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/klog/v2"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Cluster is the Kubernetes backend: the cluster of the kubeconfig's
// current context, connected to on first use. Its methods are safe for
// concurrent use.
type Cluster struct {
	Config Config
	Log    *slog.Logger // nil discards
	// Push, when set, is given the invalidations of earlier answers that
	// a pod's change (or a forward closing) makes stale.
	Push func(wire.Push)
	// Self is the node name introduced to nodes when asking their names
	// (Nodes); see discover.Find.
	Self string

	mu       sync.Mutex
	started  bool
	startErr error
	retryAt  time.Time
	kctx     Context
	api      API
	pods     *pods
	fwd      *forwards
	verdicts map[string]verdict           // by node (status.hostIP)
	answered map[string]types.UID         // hosts answered, and the pod each named
	missing  *expirable.LRU[string, bool] // hosts of other namespaces found to name no pod
	ports    *expirable.LRU[types.UID, uint16]
}

// startRetry is how long after a failed start (no kubeconfig, a bad one)
// the next lookup tries again.
const startRetry = 5 * time.Second

// nodePortTTL is how long a node's port, as its epmd told it through a
// forward, is used without asking again (as for SSH tunnels, package
// reach). A container restart is seen at once (the pod changes).
const nodePortTTL = 10 * time.Second

// NewWith returns a Cluster over the given API, for tests: namespace is
// the context's, dial opens port-forward connections (nil: none can be).
func NewWith(api API, namespace string, dial dialFunc, cfg Config) *Cluster {
	c := &Cluster{Config: cfg}
	c.init(Context{Name: "test", Namespace: namespace}, api, dial)
	return c
}

func (c *Cluster) init(kc Context, api API, dial dialFunc) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Config.Reach == "" {
		c.Config.Reach = ReachAuto
	}
	if c.Config.Idle <= 0 {
		c.Config.Idle = DefaultIdle
	}
	if dial == nil {
		dial = func(string, string) (httpstream.Connection, error) {
			return nil, errors.New("no port-forwards here")
		}
	}
	c.kctx, c.api, c.started = kc, api, true
	c.pods = &pods{api: api, changed: c.changed}
	c.fwd = &forwards{dial: dial, idle: c.Config.Idle, log: c.Log, closed: c.forwardClosed}
	c.answered = map[string]types.UID{}
	c.missing = expirable.NewLRU[string, bool](1024, nil, 5*time.Second)
	c.ports = expirable.NewLRU[types.UID, uint16](4096, nil, nodePortTTL)
}

// start connects to the cluster, once; a failure is returned again until
// startRetry has passed.
func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return nil
	}
	if c.startErr != nil && time.Now().Before(c.retryAt) {
		return c.startErr
	}
	err := c.startLocked()
	if err != nil {
		c.startErr, c.retryAt = err, time.Now().Add(startRetry)
		if !errors.Is(err, ErrNoKubeconfig) {
			c.logger().Warn("kubernetes backend unavailable", "err", err)
		}
	}
	return err
}

func (c *Cluster) startLocked() error {
	if c.Config.Off {
		return fmt.Errorf("%w: turned off (%s=0)", ErrNoKubeconfig, EnvDisable)
	}
	kc, err := LoadContext()
	if err != nil {
		return err
	}
	api, err := newRESTAPI(kc.rest)
	if err != nil {
		return fmt.Errorf("kubernetes client for %s: %w", kc.Server, err)
	}
	// client-go logs through klog; those lines go where the helper's
	// own do, at its level.
	klog.SetSlogLogger(c.logger())
	c.init(kc, api, apiDialer(kc.rest, api.core))
	c.logger().Info("kubernetes backend started", "context", kc.Name, "namespace", kc.Namespace, "server", kc.Server)
	return nil
}

func (c *Cluster) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Context returns the kubeconfig context in use, connecting if need be.
func (c *Cluster) Context() (Context, error) {
	if err := c.start(); err != nil {
		return Context{}, err
	}
	return c.kctx, nil
}

// Started tells whether the backend is connected (it was used).
func (c *Cluster) Started() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// Match is the pod a host names, and how.
type Match struct {
	Pod  *corev1.Pod
	Form Form
}

// Where names the pod for people: "pod web-0.default".
func (m Match) Where() string { return "pod " + m.Pod.Name + "." + m.Pod.Namespace }

// Lookup returns the running pod that host names. Errors wrap
// wire.ErrNotFound (no pod, or no cluster), a *wire.AmbiguousError, or
// wire.ErrUnavailable.
func (c *Cluster) Lookup(ctx context.Context, host string) (Match, error) {
	if err := c.start(); err != nil {
		return Match{}, fmt.Errorf("%w: %w", wire.ErrNotFound, err)
	}
	q, ok := parse(host, c.kctx.Namespace)
	if !ok {
		return Match{}, notFound(host)
	}
	if q.Namespace != c.kctx.Namespace {
		if err := c.exists(ctx, q); err != nil {
			return Match{}, err
		}
	}
	ps, err := c.pods.list(ctx, q.Namespace)
	if err != nil {
		return Match{}, err
	}
	return pick(host, q, ps)
}

// peek is Lookup from the watches' memory; ok is false when only Lookup
// can tell.
func (c *Cluster) peek(host string) (m Match, ok bool, err error) {
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if !started {
		return Match{}, false, nil
	}
	q, ok := parse(host, c.kctx.Namespace)
	if !ok {
		return Match{}, true, notFound(host)
	}
	if q.Namespace != c.kctx.Namespace {
		if _, miss := c.missing.Get(host); miss {
			return Match{}, true, notFound(host)
		}
	}
	ps, ok := c.pods.peek(q.Namespace)
	if !ok {
		return Match{}, false, nil
	}
	m, err = pick(host, q, ps)
	return m, true, err
}

func pick(host string, q query, ps []*corev1.Pod) (Match, error) {
	found, forms := match(q, ps)
	switch len(found) {
	case 0:
		return Match{}, notFound(host)
	case 1:
		return Match{Pod: found[0], Form: forms[0]}, nil
	}
	cands := make([]string, len(found))
	for i, p := range found {
		cands[i] = candidate(p)
	}
	return Match{}, &wire.AmbiguousError{Host: host, Candidates: cands}
}

func notFound(host string) error {
	return fmt.Errorf("%w: no running pod answers to %s", wire.ErrNotFound, host)
}

// exists checks, with one request, that a pod of that name is in the
// namespace of a host of another namespace's form, before watching that
// namespace: most two-label hosts (db.lan) name no namespace at all.
func (c *Cluster) exists(ctx context.Context, q query) error {
	host := q.Label + "." + q.Namespace
	if q.Form == FormDNS {
		host = q.Label + "." + q.Subdomain + "." + q.Namespace
	}
	if _, miss := c.missing.Get(host); miss {
		return notFound(host)
	}
	c.pods.mu.Lock()
	_, watched := c.pods.watches[q.Namespace]
	c.pods.mu.Unlock()
	if watched {
		return nil
	}
	_, err := c.api.GetPod(ctx, q.Namespace, q.Label)
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		c.missing.Add(host, true)
		return notFound(host)
	}
	return fmt.Errorf("%w: ask the API server for pod %s in namespace %s: %w", wire.ErrUnavailable, q.Label, q.Namespace, err)
}

// Close stops the watches and closes the forwards.
func (c *Cluster) Close() {
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if !started {
		return
	}
	c.pods.stop()
	c.fwd.closeAll()
}

// addrOf is the pod's address of family fam.
func addrOf(p *corev1.Pod, fam wire.Family) (netip.Addr, error) {
	ips := []string{p.Status.PodIP}
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		a = a.Unmap()
		if (fam == wire.Inet) == a.Is4() {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: pod %s.%s has no %v address", wire.ErrNoAddress, p.Name, p.Namespace, fam)
}
