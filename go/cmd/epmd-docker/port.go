package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"log/slog"

	"github.com/epmd-docker/epmd_docker/go/internal/discover"
	"github.com/epmd-docker/epmd_docker/go/internal/port"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// portCmd is `epmd-docker port`: the face the Erlang side talks to. stdout
// carries frames only; every log line goes to stderr, which the Erlang VM
// passes through to its own.
type portCmd struct {
	std stdio
}

// Exit statuses of port mode (go/internal/wire/doc.go), beside exitOK.
const (
	exitCorrupt = 65 // the input is corrupt: the owner restarts the helper at once
	exitConfig  = 78 // cannot run as configured: the owner does not restart it
)

const portHelp = `Usage: epmd-docker port

Serves the Erlang epmd_docker module: reads {packet,4} framed requests in
Erlang's external term format on stdin and writes replies on stdout, until
stdin closes. Started by the Erlang side; not meant to be run by hand.
The protocol is described in go/internal/wire/doc.go.

EPMD_DOCKER_TIMEOUT is the port owner's request timeout in milliseconds
(default 2000); every request is answered within it, less a margin.

A host that no running container answers to is looked up among the pods of
the kubeconfig's current context (KUBECONFIG, else ~/.kube/config), if
there is one; EPMD_DOCKER_KUBE_REACH (auto, direct, forward),
EPMD_DOCKER_KUBE_FORWARD_IDLE and EPMD_DOCKER_KUBE=0 are its settings.
Nothing is asked of the cluster before such a lookup.

Exit status: 0 stdin closed; 65 the input is corrupt; 78 a setting is
invalid (said on stderr, and to the port owner).
`

func (c *portCmd) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("port", flag.ContinueOnError)
	// Help goes to stderr too: stdout is for frames, even here.
	pos, rest, err := parseFlags(fs, "port", portHelp, c.std.err, args)
	if err != nil {
		return err
	}
	if len(pos)+len(rest) > 0 {
		return cmdUsageError("port", "takes no arguments")
	}
	log := newLogger(c.std.err)
	// Every failure before serving is a setting that cannot work: the
	// Erlang side is told once, and does not restart a helper that would
	// fail the same way for ever.
	timeout, err := port.TimeoutFromEnv()
	if err != nil {
		return c.fatal(log, err)
	}
	api, res, err := newDocker(log)
	if err != nil {
		return c.fatal(log, err)
	}
	defer api.Close()
	decider, err := newDecider(api)
	if err != nil {
		return c.fatal(log, err)
	}
	cluster, err := newCluster(log)
	if err != nil {
		return c.fatal(log, err)
	}
	defer cluster.Close()
	// The event watcher lives exactly as long as the port: when stdin
	// closes, Serve returns and the deferred cancel stops it. What it
	// learns goes to the port owner as pushes, through Serve's writer.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pushes := make(chan wire.Push)
	push := func(p wire.Push) {
		select {
		case pushes <- p:
		case <-ctx.Done():
		}
	}
	go res.Watch(ctx, push)
	cluster.Push = push
	// A reach decision that changes after answers were given from it (a
	// late /info, a network's probe) makes every copy of them suspect.
	decider.Changed = func() { push(wire.InvalidateAll()) }
	// The nodes command is the discovery ls and remsh use (probeName).
	finder := &discover.Finder{Source: res, Decider: decider, Self: probeName(), Log: log}
	loc := &reach.Locator{Resolver: res, Decider: decider, Swarm: &reach.Swarm{API: api}}
	if conn := api.SSH(); conn != nil {
		// Containers of a daemon reached over SSH are reached through
		// tunnels over the same connection.
		conn.Log, loc.Tunnel = log, conn
		finder.Via = tunnelAt(ctx, api)
	}
	srv := &port.Server{
		Backend: &lookupChain{docker: struct {
			*reach.Locator
			*discover.Finder
		}{loc, finder}, kube: cluster, log: log},
		Log:     log,
		Version: version(),
		Timeout: timeout,
		Pushes:  pushes,
	}
	err = srv.Serve(ctx, c.std.in, c.std.out)
	if errors.Is(err, port.ErrCorrupt) {
		log.Error("exiting: "+err.Error(), "status", exitCorrupt)
		return exitStatus(exitCorrupt)
	}
	return err
}

// fatal tells the port owner, and stderr, that the helper cannot run as
// configured, and returns the exit status that says so.
func (c *portCmd) fatal(log *slog.Logger, err error) error {
	log.Error("cannot run: "+err.Error(), "status", exitConfig)
	if b, eerr := wire.Fatal(err.Error()).Encode(); eerr == nil {
		w := bufio.NewWriter(c.std.out)
		if wire.WriteFrame(w, b) == nil {
			w.Flush()
		}
	}
	return exitStatus(exitConfig)
}
