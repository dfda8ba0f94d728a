package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
	"github.com/epmd-docker/epmd_docker/go/internal/kube"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

const resolveHelp = `Usage: epmd-docker resolve HOST [--inet6] [--json]

Prints the address the Erlang side dials for node@HOST: the container that
HOST designates (short ID and name), the network whose address was chosen,
and the forms by which HOST names it (name, hostname, id, id-prefix,
compose-service, alias, dns-name, hostname.domainname). A whole node name,
node@HOST, is accepted too.

When no running container answers to HOST and a kubeconfig is present
(KUBECONFIG, else ~/.kube/config), HOST is looked up among the running
pods of its current context: POD or HOSTNAME in the context's namespace,
POD.NAMESPACE, or HOSTNAME.SERVICE.NAMESPACE.svc.cluster.local. The
answer then names the pod and says whether it is dialled at its address or
through a port-forward (EPMD_DOCKER_KUBE_REACH).

Flags:
  --inet6   resolve to an IPv6 address (as for -proto_dist inet6_tcp)
  --json    print the answer as JSON; a HOST that does not resolve gives
            {"error": REASON, "message": ..., "candidates": [...]} (REASON
            is what the Erlang side gets: not_found, ambiguous, no_address)

Exit status: 0 resolved; 1 no running container answers to HOST, several
do (they are listed), or it has no address of that family; 2 usage error;
3 Docker could not be reached.
`

// resolveCmd is `epmd-docker resolve`: what a node name's host part
// resolves to, and why.
type resolveCmd struct {
	std stdio
}

// resolveAnswer is resolve's answer as JSON.
type resolveAnswer struct {
	Host      string         `json:"host"`
	Family    string         `json:"family"`
	Address   string         `json:"address,omitempty"`
	Container *containerJSON `json:"container,omitempty"`
	// Pod and Context, for a host that names a Kubernetes pod.
	Pod     *podJSON `json:"pod,omitempty"`
	Context string   `json:"context,omitempty"`
	Network string   `json:"network,omitempty"`
	Matched []string `json:"matched,omitempty"`
	// Reach is how the Erlang side reaches it (EPMD_DOCKER_MODE); Dial
	// the host side of its published distribution port, when used.
	Reach string `json:"reach,omitempty"`
	Dial  string `json:"dial,omitempty"`
	// On failure: the Reason atom the Erlang side would get, and a
	// sentence.
	Error      string   `json:"error,omitempty"`
	Message    string   `json:"message,omitempty"`
	Candidates []string `json:"candidates,omitempty"`
}

// containerJSON names a container in JSON answers.
type containerJSON struct {
	ID       string `json:"id"`
	ShortID  string `json:"short_id"`
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
}

func (c *resolveCmd) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	inet6 := fs.Bool("inet6", false, "")
	asJSON := fs.Bool("json", false, "")
	pos, rest, err := parseFlags(fs, "resolve", resolveHelp, c.std.out, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(rest) > 0 {
		return cmdUsageError("resolve", "takes one HOST, got %d arguments", len(pos)+len(rest))
	}
	host := pos[0]
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	fam := wire.Inet
	if *inet6 {
		fam = wire.Inet6
	}

	api, r, err := newDocker(newLogger(c.std.err))
	if err != nil {
		return err
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	m, err := r.Lookup(ctx, host, fam)
	err = unavailable(err)

	ans := resolveAnswer{Host: host, Family: fam.String()}
	if err != nil && askKube(err) {
		pod, perr := c.resolvePod(ctx, host, fam, err)
		if perr == nil {
			return c.print(pod, *asJSON)
		}
		err = perr
	}
	if err != nil {
		if errors.Is(err, wire.ErrUnavailable) || !*asJSON {
			return resolveError(host, err)
		}
		ans.Error, ans.Message = string(wire.ReasonOf(err)), resolveError(host, err).Error()
		var amb *wire.AmbiguousError
		if errors.As(err, &amb) {
			ans.Candidates = amb.Candidates
		}
		if err := cli.JSON(c.std.out, ans); err != nil {
			return err
		}
		fmt.Fprintf(c.std.err, "epmd-docker: %s\n", ans.Message)
		return errQuiet
	}

	ans.Address = m.Addr.String()
	ans.Container = &containerJSON{ID: m.Container.ID, ShortID: shortID(m.Container.ID), Name: m.Container.Name, Hostname: m.Container.Hostname}
	ans.Network = m.Network
	ans.Reach, ans.Dial = reachOf(ctx, api, m, fam)
	for _, f := range m.Forms {
		ans.Matched = append(ans.Matched, string(f))
	}
	return c.print(ans, *asJSON)
}

// print writes resolve's answer, for a person or as JSON.
func (c *resolveCmd) print(ans resolveAnswer, asJSON bool) error {
	if asJSON {
		return cli.JSON(c.std.out, ans)
	}
	color := cli.ColorFor(c.std.out)
	t := cli.Table{Color: color}
	t.AddCells(cli.Cell{Text: "address"}, cli.Cell{Text: ans.Address, Color: cli.Bold})
	if ans.Pod != nil {
		t.Add("pod", ans.Pod.Name+"."+ans.Pod.Namespace+" (context "+ans.Context+", node "+ans.Pod.Node+")")
		t.Add("hostname", ans.Pod.Hostname)
	} else {
		t.Add("container", ans.Container.ShortID+" ("+ans.Container.Name+")")
		t.Add("hostname", ans.Container.Hostname)
	}
	t.Add("network", ans.Network)
	t.Add("matched", strings.Join(ans.Matched, ", "))
	t.Add("reached", ans.Reach)
	switch {
	case ans.Dial != "" && ans.Pod != nil:
		t.Add("dial", ans.Dial)
	case ans.Dial != "":
		t.Add("dial", ans.Dial+" (published port, no epmd)")
	}
	_, err := t.WriteTo(c.std.out)
	return err
}

// resolveError says why host did not resolve, for a person.
func resolveError(host string, err error) error {
	var amb *wire.AmbiguousError
	switch {
	case errors.As(err, &amb):
		return fmt.Errorf("%s names several running containers: %s; name one by its ID", host, strings.Join(amb.Candidates, ", "))
	case errors.Is(err, wire.ErrNotFound):
		if len(kube.Kubeconfig()) > 0 {
			return fmt.Errorf("no running container answers to %s, nor a running pod of the current Kubernetes context (see epmd-docker ls)", host)
		}
		return fmt.Errorf("no running container answers to %s (see epmd-docker ls)", host)
	case errors.Is(err, wire.ErrBadHost):
		return fmt.Errorf("%q is not a host name", host)
	}
	return err
}
