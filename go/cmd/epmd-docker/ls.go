package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
	"github.com/epmd-docker/epmd_docker/go/internal/discover"
	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

const lsHelp = `Usage: epmd-docker ls [--json] [--timeout D]

Lists every running container: short ID, name, hostname, its address on
each network, and the Erlang nodes registered with the epmd inside it, each
as the node name to dial and its distribution port. The name is the one the
node gives itself when asked (the opening of a distribution handshake,
which needs no cookie), or name@hostname if it does not answer. Containers
are asked all at once, each within a short timeout; a container without an
epmd shows none.

With a kubeconfig (KUBECONFIG, else ~/.kube/config), the running pods of
its current context's namespace follow, CONTAINER "pod", NAME
POD.NAMESPACE, each asked at its address or through a port-forward, as the
Erlang side would reach it (EPMD_DOCKER_KUBE_REACH).

Flags:
  --json        print the list as JSON
  --timeout D   how long to wait for each container's epmd (default 500ms)

Exit status: 0 listed (even if empty); 2 usage error; 3 Docker could not be
reached (and no Kubernetes cluster could be listed instead).
`

// defaultProbeTimeout bounds one epmd probe: a local container answers in
// well under a millisecond, so this only waits out filtered addresses.
const defaultProbeTimeout = 500 * time.Millisecond

// lsCmd is `epmd-docker ls`: the running containers and the Erlang nodes in
// them.
type lsCmd struct {
	std stdio
}

// containerEntry is one container in ls's answer, and in doctor's view.
type containerEntry struct {
	containerJSON
	// Address is the one a lookup by hostname returns, where the epmd is
	// asked; empty when the container has none.
	Address  string         `json:"address,omitempty"`
	Network  string         `json:"network,omitempty"`
	Networks []networkEntry `json:"networks"`
	// EPMD is what asking the epmd gave: "ok", "none" (nothing listens on
	// its port), "unreachable" (no answer, or no route), "no-address", or
	// "error".
	EPMD string `json:"epmd"`
	// Reach is how the Erlang side reaches it: "direct", "published
	// HOST:PORT", or "unreachable: WHY" (EPMD_DOCKER_MODE).
	Reach     string      `json:"reach,omitempty"`
	EPMDError string      `json:"epmd_error,omitempty"`
	Nodes     []nodeEntry `json:"nodes"`
	// Pod is set for a Kubernetes pod (Name is then POD.NAMESPACE).
	Pod *podJSON `json:"pod,omitempty"`
	// Dropped counts the names its epmd lists that are left out: not
	// valid node names, or more than discover.MaxPerContainer.
	Dropped int `json:"dropped,omitempty"`
}

// networkEntry is one network a container is attached to.
type networkEntry struct {
	Network string `json:"network"`
	IPv4    string `json:"ipv4,omitempty"`
	IPv6    string `json:"ipv6,omitempty"`
}

// nodeEntry is one node registered with a container's epmd.
type nodeEntry struct {
	Name string `json:"name"`
	Node string `json:"node"` // the name to dial: Name@hostname
	Port int    `json:"port"`
}

// The EPMD states of containerEntry.
const (
	epmdOK          = "ok"
	epmdNone        = "none"
	epmdUnreachable = "unreachable"
	epmdNoAddress   = "no-address"
	epmdError       = "error"
)

func (c *lsCmd) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "")
	timeout := fs.Duration("timeout", defaultProbeTimeout, "")
	pos, rest, err := parseFlags(fs, "ls", lsHelp, c.std.out, args)
	if err != nil {
		return err
	}
	if len(pos)+len(rest) > 0 {
		return cmdUsageError("ls", "takes no arguments")
	}
	if *timeout <= 0 {
		return cmdUsageError("ls", "--timeout must be positive")
	}

	log := newLogger(c.std.err)
	api, r, err := newDocker(log)
	if err != nil {
		return err
	}
	defer api.Close()
	entries, err := listContainers(ctx, api, r, *timeout)
	if err == nil {
		addWays(ctx, api, r, entries)
	}
	// Pods after containers, the order of lookups. Either may fail
	// alone: what the other lists is still shown.
	pods, kerr := listPods(ctx, log, *timeout)
	switch {
	case err != nil && (kerr != nil || pods == nil):
		return unavailable(err)
	case err != nil:
		fmt.Fprintf(c.std.err, "epmd-docker: containers left out: %s\n", unavailable(err))
	case kerr != nil:
		fmt.Fprintf(c.std.err, "epmd-docker: Kubernetes pods left out: %s\n", kerr)
	}
	entries = append(entries, pods...)

	if *asJSON {
		return cli.JSON(c.std.out, struct {
			Containers []containerEntry `json:"containers"`
		}{entries})
	}
	if len(entries) == 0 {
		fmt.Fprintln(c.std.err, "epmd-docker: no running containers (nor pods)")
		return nil
	}
	_, err = lsTable(entries, cli.ColorFor(c.std.out)).WriteTo(c.std.out)
	return err
}

// lsTable lays entries out for a person: one row per container, growing a
// line for each further network or node.
func lsTable(entries []containerEntry, color bool) *cli.Table {
	t := &cli.Table{Header: []string{"CONTAINER", "NAME", "HOSTNAME", "ADDRESS", "NETWORK", "NODE", "PORT"}, Color: color}
	for _, e := range entries {
		var addrs, nets []string
		for _, n := range e.Networks {
			for _, a := range []string{n.IPv4, n.IPv6} {
				if a != "" {
					addrs, nets = append(addrs, a), append(nets, n.Network)
				}
			}
		}
		if len(addrs) == 0 && e.Address != "" {
			addrs, nets = []string{e.Address}, []string{e.Network}
		}
		nodes, ports := cli.Cell{Color: cli.Green}, cli.Cell{}
		var ns, ps []string
		for _, n := range e.Nodes {
			ns, ps = append(ns, n.Node), append(ps, strconv.Itoa(n.Port))
		}
		nodes.Text, ports.Text = strings.Join(ns, "\n"), strings.Join(ps, "\n")
		switch e.EPMD {
		case epmdOK:
			if len(e.Nodes) == 0 {
				nodes = cli.Cell{Text: "(epmd, no nodes)", Color: cli.Dim}
			}
		case epmdNone, epmdNoAddress:
			nodes = cli.Cell{Text: "-", Color: cli.Dim}
		default:
			nodes = cli.Cell{Text: "(" + e.EPMD + ")", Color: cli.Yellow}
		}
		t.AddCells(
			cli.Cell{Text: e.ShortID},
			cli.Cell{Text: e.Name, Color: cli.Bold},
			cli.Cell{Text: e.Hostname},
			cli.Cell{Text: strings.Join(addrs, "\n")},
			cli.Cell{Text: strings.Join(nets, "\n"), Color: cli.Dim},
			nodes,
			ports,
		)
	}
	addReachColumn(t, entries)
	return t
}

// lister is what listContainers needs of Docker besides the resolver:
// every network's addresses, which package docker's list carries.
type lister interface {
	ListRunning(ctx context.Context) ([]docker.Container, error)
}

// listContainers returns the running containers, sorted by name, each with
// the nodes found in it the way it is reached (EPMD_DOCKER_MODE; directly
// when that cannot be told).
func listContainers(ctx context.Context, api *docker.Client, r *resolve.Resolver, probeTimeout time.Duration) ([]containerEntry, error) {
	wctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	var ws map[string]reach.Way
	if d, err := newDecider(api); err == nil {
		_, ws, _ = ways(wctx, d, r)
	}
	cancel()
	return listContainersVia(ctx, api, r, ws, probeTimeout)
}

// listContainersVia is listContainers with the ways containers are reached
// given (ws, by container ID; a container missing there is reached
// directly). Docker is asked within
// dockerTimeout, then every container at once, each within probeTimeout,
// so the whole takes about the slowest Docker answer plus probeTimeout
// however many containers there are.
func listContainersVia(ctx context.Context, api lister, r *resolve.Resolver, ws map[string]reach.Way, probeTimeout time.Duration) ([]containerEntry, error) {
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	// The resolver's list carries hostnames and the address a lookup
	// gives; the plain list carries every network's addresses.
	raw, err := api.ListRunning(dctx)
	if err != nil {
		return nil, err
	}
	cs, err := r.List(dctx)
	if err != nil {
		return nil, err
	}
	nets := make(map[string]map[string]docker.Endpoint, len(raw))
	for _, c := range raw {
		nets[c.ID] = c.Networks
	}

	entries := make([]containerEntry, len(cs))
	var targets []discover.Target
	var probed []*containerEntry
	at := tunnelAt(ctx, api)
	for i, c := range cs {
		e := &entries[i]
		e.containerJSON = containerJSON{ID: c.ID, ShortID: shortID(c.ID), Name: c.Name, Hostname: c.Hostname}
		e.Networks = []networkEntry{}
		e.Nodes = []nodeEntry{}
		for name, ep := range nets[c.ID] {
			n := networkEntry{Network: name}
			if ep.IPv4.IsValid() {
				n.IPv4 = ep.IPv4.String()
			}
			if ep.IPv6.IsValid() {
				n.IPv6 = ep.IPv6.String()
			}
			if n.Network == "host" || n.IPv4 != "" || n.IPv6 != "" {
				e.Networks = append(e.Networks, n)
			}
			if c.Addr.IsValid() && ep.IPv4 == c.Addr {
				e.Network = name
			}
		}
		slices.SortFunc(e.Networks, func(a, b networkEntry) int { return strings.Compare(a.Network, b.Network) })
		w := ws[c.ID]
		if c.Addr.IsValid() {
			e.Address = c.Addr.String()
			if e.Network == "" && c.Addr.IsLoopback() {
				e.Network = "host"
			}
		} else if w.Mode != reach.Published {
			e.EPMD = epmdNoAddress
			continue
		}
		addr := c.Addr
		if w.Mode == reach.Direct && w.Addr.IsValid() {
			addr = w.Addr // a Swarm task's docker_gwbridge address
		}
		targets = append(targets, discover.Target{Addr: addr, Hostname: c.Hostname, Way: w, Via: at})
		probed = append(probed, e)
	}
	for i, res := range discover.FindAll(ctx, targets, probeName(), probeTimeout) {
		e := probed[i]
		e.EPMD, e.EPMDError = probeState(res.Err)
		e.Dropped = res.Dropped
		for _, n := range res.Nodes {
			e.Nodes = append(e.Nodes, nodeEntry{Name: n.Name, Node: n.Node, Port: n.Port})
		}
	}
	return entries, ctx.Err()
}

// probeName is what ls, remsh and the port's nodes command introduce
// themselves as when they ask nodes their names. It is always the same,
// because a node keeps every name that ever connected to it as an atom.
func probeName() string {
	return "epmd-docker-ls@" + shortHostname()
}

// probeState classifies the outcome of asking an epmd. A refused
// connection proves the address routable: only the epmd is missing.
func probeState(err error) (state, detail string) {
	var op *net.OpError
	switch {
	case err == nil:
		return epmdOK, ""
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, wire.ErrNotPublished):
		// Nothing to ask: the REACHED column says why.
		return epmdNone, ""
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.As(err, &op) && op.Timeout():
		return epmdUnreachable, err.Error()
	default:
		return epmdError, err.Error()
	}
}
