package kube

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Freshness: the hosts answered, by the pod each named, so that a pod's
// change, or a forward's closing, invalidates exactly those on the Erlang
// side (wire.Invalidate), after the watch's store already has the change.

// remember notes that host was answered with pod uid, for invalidations.
func (c *Cluster) remember(host string, uid types.UID) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.answered) > 8192 {
		// Forgetting means some change will not be pushed: say all.
		c.answered = map[string]types.UID{}
		c.push(wire.InvalidateAll())
	}
	c.answered[host] = uid
}

func (c *Cluster) push(p wire.Push) {
	if c.Push != nil {
		go c.Push(p)
	}
}

// stateOf is what, of a pod, the answers about it depend on.
func stateOf(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	restarts := int32(0)
	for _, s := range p.Status.ContainerStatuses {
		restarts += s.RestartCount
	}
	return fmt.Sprintf("%s %v %s %s %s %d %v", p.UID, running(p), p.Status.PodIP, p.Spec.Hostname, p.Spec.Subdomain, restarts, p.Status.HostIP)
}

// changed is the watches' handler: when what the answers about a pod
// depend on changed, its forwards close, and the hosts answered with it,
// or that may now name it, are invalidated.
func (c *Cluster) changed(old, new *corev1.Pod) {
	if stateOf(old) == stateOf(new) {
		return
	}
	var labels []string
	for _, p := range []*corev1.Pod{old, new} {
		if p == nil {
			continue
		}
		labels = append(labels, p.Name, hostnameOf(p))
		c.ports.Remove(p.UID)
	}
	if old != nil && (new == nil || stateOf(old) != stateOf(new)) {
		c.fwd.closePod(old.UID, "the pod changed")
	}
	c.mu.Lock()
	var hosts []string
	for h, uid := range c.answered {
		first, _, _ := strings.Cut(h, ".")
		if (old != nil && uid == old.UID) || (new != nil && uid == new.UID) || slices.Contains(labels, first) {
			hosts = append(hosts, h)
			delete(c.answered, h)
		}
	}
	c.mu.Unlock()
	if len(hosts) > 0 {
		slices.Sort(hosts)
		c.logger().Debug("pod changed", "hosts", hosts)
		c.push(wire.Invalidate(hosts))
	}
}

// forwardClosed invalidates the hosts answered with the forward's local
// port.
func (c *Cluster) forwardClosed(k fwdKey) {
	c.mu.Lock()
	var hosts []string
	for h, uid := range c.answered {
		if uid == k.UID {
			hosts = append(hosts, h)
			delete(c.answered, h)
		}
	}
	c.mu.Unlock()
	if len(hosts) > 0 {
		slices.Sort(hosts)
		c.push(wire.Invalidate(hosts))
	}
}
