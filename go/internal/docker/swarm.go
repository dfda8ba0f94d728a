package docker

import (
	"context"
	"net/netip"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// GatewayBridge is the bridge network by which a Swarm node's tasks on
// overlay networks reach, and are reached from, the node itself: each such
// task has an endpoint there (gateway_SANDBOX), absent from its own list
// of networks. The overlay address is not routed from the node.
const GatewayBridge = "docker_gwbridge"

// Gateways returns each local container's IPv4 address on GatewayBridge,
// by full container ID (GET /networks/docker_gwbridge); empty on a daemon
// that is in no swarm.
func (c *Client) Gateways(ctx context.Context) (map[string]netip.Addr, error) {
	n, err := c.api.NetworkInspect(ctx, GatewayBridge, network.InspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return map[string]netip.Addr{}, nil
		}
		return nil, c.wrap(ctx, "inspect network "+GatewayBridge, err)
	}
	out := make(map[string]netip.Addr, len(n.Containers))
	for id, ep := range n.Containers {
		if p, err := netip.ParsePrefix(ep.IPv4Address); err == nil && p.Addr().Is4() {
			out[id] = p.Addr()
		}
	}
	return out, nil
}
