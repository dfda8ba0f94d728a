package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"text/template"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
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

// Task is a running Swarm task as the swarm's managers know it, on
// whichever node it runs.
type Task struct {
	ID      string
	Name    string // SERVICE.SLOT.ID, as its container is named
	Service string
	// Hostname is the container's hostname: the service's --hostname
	// with its template expanded ({{.Service.Name}}-{{.Task.Slot}});
	// "" when the service sets none (the container ID, unknown here).
	Hostname string
	NodeID   string
	// Local says the task runs on this daemon's node (as far as the
	// node's running task containers tell).
	Local    bool
	NodeName string     // the node's hostname
	NodeAddr netip.Addr // the node's address in the swarm
	Labels   map[string]string
	// Ports are the ports published in host mode, on the task's node
	// (HostIP unspecified). Ingress-mode ports are left out: the routing
	// mesh may send a connection to any task of the service.
	Ports []Port
}

// Tasks returns the swarm's running tasks (GET /tasks, /services and
// /nodes), or ErrNotManager when this daemon is in no swarm or not a
// manager there, and so cannot tell.
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	running := filters.NewArgs(filters.Arg("desired-state", "running"))
	ts, err := c.api.TaskList(ctx, swarm.TaskListOptions{Filters: running})
	if err != nil {
		if cerrdefs.IsUnavailable(err) || cerrdefs.IsFailedPrecondition(err) {
			return nil, fmt.Errorf("list swarm tasks: %w: %v", ErrNotManager, err)
		}
		return nil, c.wrap(ctx, "list swarm tasks", err)
	}
	svcs, err := c.api.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		return nil, c.wrap(ctx, "list swarm services", err)
	}
	nodes, err := c.api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, c.wrap(ctx, "list swarm nodes", err)
	}
	// This node is the one its own task containers name; with none, no
	// task runs here.
	self := ""
	local, err := c.api.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", swarmNodeLabel), filters.Arg("status", "running"))})
	if err != nil {
		return nil, c.wrap(ctx, "list containers", err)
	}
	if len(local) > 0 {
		self = local[0].Labels[swarmNodeLabel]
	}
	svcByID := map[string]swarm.Service{}
	for _, s := range svcs {
		svcByID[s.ID] = s
	}
	nodeByID := map[string]swarm.Node{}
	for _, n := range nodes {
		nodeByID[n.ID] = n
	}
	var out []Task
	for _, t := range ts {
		if t.Status.State != swarm.TaskStateRunning || t.Spec.ContainerSpec == nil {
			continue
		}
		svc, node := svcByID[t.ServiceID], nodeByID[t.NodeID]
		task := Task{ID: t.ID, Service: svc.Spec.Name, NodeID: t.NodeID, Local: t.NodeID == self, NodeName: node.Description.Hostname, Labels: map[string]string{}}
		task.Name = fmt.Sprintf("%s.%d.%s", svc.Spec.Name, t.Slot, t.ID)
		if t.Slot == 0 { // global services: one task per node
			task.Name = fmt.Sprintf("%s.%s.%s", svc.Spec.Name, t.NodeID, t.ID)
		}
		maps.Copy(task.Labels, t.Spec.ContainerSpec.Labels)
		if a, err := netip.ParseAddr(node.Status.Addr); err == nil {
			task.NodeAddr = a.Unmap()
		}
		task.Hostname = expandHostname(t.Spec.ContainerSpec.Hostname, t, svc, node)
		for _, p := range t.Status.PortStatus.Ports {
			if p.PublishMode == swarm.PortConfigPublishModeHost && p.PublishedPort != 0 && p.TargetPort <= 65535 && p.PublishedPort <= 65535 {
				task.Ports = append(task.Ports, Port{Private: uint16(p.TargetPort), Proto: string(p.Protocol), HostIP: netip.IPv4Unspecified(), HostPort: uint16(p.PublishedPort)})
			}
		}
		out = append(out, task)
	}
	return out, nil
}

// swarmNodeLabel names the node on a task's container.
const swarmNodeLabel = "com.docker.swarm.node.id"

// ErrNotManager says that this daemon cannot list the swarm's tasks.
var ErrNotManager = errors.New("not a swarm manager")

// expandHostname expands a service's hostname template as Swarm does for
// each task ({{.Service.Name}}, {{.Task.Slot}}, {{.Node.Hostname}}, ...);
// a template it cannot expand is returned as it is.
func expandHostname(tmpl string, t swarm.Task, svc swarm.Service, node swarm.Node) string {
	if !strings.Contains(tmpl, "{{") {
		return tmpl
	}
	tp, err := template.New("hostname").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return tmpl
	}
	var ctx struct {
		Service struct {
			ID, Name string
			Labels   map[string]string
		}
		Node struct {
			ID, Hostname string
			Platform     struct{ Architecture, OS string }
		}
		Task struct{ ID, Name, Slot string }
	}
	ctx.Service.ID, ctx.Service.Name, ctx.Service.Labels = svc.ID, svc.Spec.Name, svc.Spec.Labels
	ctx.Node.ID, ctx.Node.Hostname = node.ID, node.Description.Hostname
	ctx.Node.Platform.Architecture, ctx.Node.Platform.OS = node.Description.Platform.Architecture, node.Description.Platform.OS
	ctx.Task.ID, ctx.Task.Slot = t.ID, strconv.Itoa(t.Slot)
	ctx.Task.Name = fmt.Sprintf("%s.%d.%s", svc.Spec.Name, t.Slot, t.ID)
	var b strings.Builder
	if err := tp.Execute(&b, ctx); err != nil {
		return tmpl
	}
	return b.String()
}
