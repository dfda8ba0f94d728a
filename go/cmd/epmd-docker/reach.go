package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
	"github.com/epmd-docker/epmd_docker/go/internal/discover"
	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// newDecider returns the decider of how containers are reached, from
// EPMD_DOCKER_MODE and the daemon api talks to.
func newDecider(api *docker.Client) (*reach.Decider, error) {
	mode, err := reach.ModeFromEnv()
	if err != nil {
		return nil, err
	}
	return &reach.Decider{Mode: mode, DockerHost: api.Host(), API: api, Gateways: api}, nil
}

// ways says, for each running container by full ID, how it is reached
// (IPv4), as d decides it after waiting for the daemon's kind; nil when
// that cannot be told (the reason is returned too). The ways are those
// discover.Targets gives the port's nodes command.
func ways(ctx context.Context, d *reach.Decider, r *resolve.Resolver) (reach.Decision, map[string]reach.Way, error) {
	d.Settle(ctx)
	dec, err := d.Decide(ctx)
	if err != nil {
		return reach.Decision{}, nil, err
	}
	cs, ts, err := discover.Targets(ctx, r, d)
	if err != nil {
		return dec, nil, err
	}
	out := make(map[string]reach.Way, len(ts))
	for i, t := range ts {
		out[cs[i].ID] = t.Way
	}
	return dec, out, nil
}

// reachOf says how the match m is reached, for resolve: the mode and why,
// and the host side to dial in published mode ("" when direct or when it
// cannot be reached, the reason then being in the first string).
func reachOf(ctx context.Context, api *docker.Client, m resolve.Match, fam wire.Family) (how, dial string) {
	d, err := newDecider(api)
	if err != nil {
		return "unknown: " + err.Error(), ""
	}
	d.Settle(ctx)
	w, err := d.Way(ctx, m, fam)
	if err != nil {
		return "unknown: " + err.Error(), ""
	}
	if w.Mode == reach.Published && w.Err == nil {
		return string(w.Mode) + " (" + w.Why + ")", w.Dial.String()
	}
	if w.Mode == reach.Direct && w.Addr != m.Addr {
		return "direct at " + w.Addr.String() + " (" + w.Why + ")", ""
	}
	return w.String() + " (" + w.Why + ")", ""
}

// addWays fills in how each entry is reached (containerEntry.Reach).
// Failures leave them empty: ls still lists.
func addWays(ctx context.Context, api *docker.Client, r *resolve.Resolver, entries []containerEntry) {
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	d, err := newDecider(api)
	if err != nil {
		return
	}
	_, ws, err := ways(dctx, d, r)
	if err != nil {
		return
	}
	for i := range entries {
		if w, ok := ws[entries[i].ID]; ok {
			entries[i].Reach = w.String()
		}
	}
}

// reachCheck is doctor's "reached via": the mode and why, and in published
// mode which containers publish a distribution port and which do not.
func (d *doctor) reachCheck(ctx context.Context, r *resolve.Resolver) check {
	ch := check{Name: "reached via", Status: statusOK}
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	dec, ws, err := ways(dctx, d.decider, r)
	if err != nil {
		ch.Status, ch.Detail = statusWarn, "cannot tell: "+err.Error()
		return ch
	}
	if dec.Mode == reach.Tunnel {
		ch.Detail = "SSH tunnels to container addresses and the epmd in each container, over the connection to the daemon (" + dec.Why + ")"
		return ch
	}
	if dec.Mode == reach.Direct {
		ch.Detail = "container addresses and the epmd in each container (" + dec.Why + "; EPMD_DOCKER_MODE=published to use published ports)"
		return ch
	}
	names, err := r.List(dctx)
	if err != nil {
		ch.Status, ch.Detail = statusWarn, "cannot tell: "+err.Error()
		return ch
	}
	var direct, ok, bad []string
	why := dec.Why
	for _, c := range names {
		w := ws[c.ID]
		label := fmt.Sprintf("%s (%s)", c.Name, shortID(c.ID))
		switch {
		case w.Mode != reach.Published:
			direct = append(direct, label)
		case w.Err != nil:
			bad, why = append(bad, label), w.Why
		default:
			ok, why = append(ok, label+" at "+w.Dial.String()), w.Why
		}
	}
	if len(ok)+len(bad) == 0 {
		ch.Detail = "container addresses and the epmd in each container (" + dec.Why + ": their networks are reachable from here; EPMD_DOCKER_MODE=published to use published ports)"
		return ch
	}
	ch.Detail = fmt.Sprintf("published ports (%s): %d of %d containers publish a distribution port", why, len(ok), len(ok)+len(bad))
	if len(ok) > 0 {
		ch.Detail += ": " + listSome(ok, 3)
	}
	if len(bad) > 0 {
		ch.Status = statusWarn
		ch.Detail += "; none in " + listSome(bad, 3)
		ch.Fix = "run the node with -kernel inet_dist_listen_min 9100 inet_dist_listen_max 9100, publish it with -p 127.0.0.1::9100, and label it --label " + reach.DistPortLabel + "=9100 if it publishes other ports"
	}
	if len(direct) > 0 {
		ch.Detail += fmt.Sprintf("; %d reached at their own addresses: %s", len(direct), listSome(direct, 3))
	}
	return ch
}

// addReachColumn adds a REACHED column to ls's table when some container
// is reached other than directly, so that the usual table stays as it is.
func addReachColumn(t *cli.Table, entries []containerEntry) {
	if !slices.ContainsFunc(entries, func(e containerEntry) bool { return e.Reach != "" && e.Reach != "direct" }) {
		return
	}
	t.Header = append(t.Header, "REACHED")
	for i := range t.Rows {
		cell := cli.Cell{Text: entries[i].Reach}
		if strings.HasPrefix(cell.Text, "unreachable") {
			cell.Color = cli.Yellow
		}
		t.Rows[i] = append(t.Rows[i], cell)
	}
}
