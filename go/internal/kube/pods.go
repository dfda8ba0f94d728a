package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// maxNamespaces bounds the namespaces watched at once: each costs a watch
// on the API server, and hosts of the POD.NAMESPACE form can name any.
const maxNamespaces = 32

// podWatch follows the pods of one namespace: a list, then a watch from its
// resourceVersion (client-go's informer, which lists again when the watch
// breaks and reports what changed meanwhile).
type podWatch struct {
	inf    cache.SharedIndexInformer
	cancel context.CancelFunc

	mu  sync.Mutex
	err error // the last list or watch failure, until the next sync
}

// pods is the set of namespaces watched.
type pods struct {
	api API
	// changed is called with every pod that was added, changed or
	// removed (old and new state; either may be nil).
	changed func(old, new *corev1.Pod)

	mu      sync.Mutex
	watches map[string]*podWatch
}

// watch returns the watch of namespace ns, starting it if need be.
func (ps *pods) watch(ns string) (*podWatch, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if w, ok := ps.watches[ns]; ok {
		return w, nil
	}
	if len(ps.watches) >= maxNamespaces {
		return nil, fmt.Errorf("%w: already watching %d namespaces", wire.ErrUnavailable, maxNamespaces)
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return ps.api.ListPods(ctx, ns, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return ps.api.WatchPods(ctx, ns, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { ps.changed(nil, asPod(o)) },
		UpdateFunc: func(o, n any) { ps.changed(asPod(o), asPod(n)) },
		DeleteFunc: func(o any) { ps.changed(asPod(o), nil) },
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWatch{inf: inf, cancel: cancel}
	// A list that fails (forbidden, no server) would leave a lookup
	// waiting for a sync that never comes: it is told at once instead.
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
	if ps.watches == nil {
		ps.watches = map[string]*podWatch{}
	}
	ps.watches[ns] = w
	go inf.RunWithContext(ctx)
	return w, nil
}

// asPod is the pod an informer hands a handler, also when it was deleted
// while the watch was down.
func asPod(o any) *corev1.Pod {
	switch v := o.(type) {
	case *corev1.Pod:
		return v
	case cache.DeletedFinalStateUnknown:
		p, _ := v.Obj.(*corev1.Pod)
		return p
	}
	return nil
}

// list returns the pods of namespace ns once its watch has synced, waiting
// for that at most until ctx ends.
func (ps *pods) list(ctx context.Context, ns string) ([]*corev1.Pod, error) {
	w, err := ps.watch(ns)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !w.inf.HasSynced() {
		w.mu.Lock()
		werr := w.err
		w.mu.Unlock()
		if werr != nil {
			return nil, fmt.Errorf("%w: cannot list the pods of namespace %s: %w", wire.ErrUnavailable, ns, werr)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: the API server did not list the pods of namespace %s in time: %w", wire.ErrUnavailable, ns, ctx.Err())
		}
	}
	return w.snapshot(), nil
}

// peek returns the pods of ns if its watch has synced; ok is false if it
// has not, or none was started.
func (ps *pods) peek(ns string) ([]*corev1.Pod, bool) {
	ps.mu.Lock()
	w, ok := ps.watches[ns]
	ps.mu.Unlock()
	if !ok || !w.inf.HasSynced() {
		return nil, false
	}
	return w.snapshot(), true
}

func (w *podWatch) snapshot() []*corev1.Pod {
	objs := w.inf.GetStore().List()
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p := asPod(o); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// stop ends every watch.
func (ps *pods) stop() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for ns, w := range ps.watches {
		w.cancel()
		delete(ps.watches, ns)
	}
}
