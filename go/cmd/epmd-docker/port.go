package main

import (
	"context"
	"flag"

	"github.com/epmd-docker/epmd_docker/go/internal/port"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
)

// portCmd is `epmd-docker port`: the face the Erlang side talks to. stdout
// carries frames only; every log line goes to stderr, which the Erlang VM
// passes through to its own.
type portCmd struct {
	std stdio
}

const portHelp = `Usage: epmd-docker port

Serves the Erlang epmd_docker module: reads {packet,4} framed requests in
Erlang's external term format on stdin and writes replies on stdout, until
stdin closes. Started by the Erlang side; not meant to be run by hand.
The protocol is described in go/internal/wire/doc.go.
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
	api, res, err := newDocker(log)
	if err != nil {
		return err
	}
	defer api.Close()
	decider, err := newDecider(api)
	if err != nil {
		return err
	}
	// The event watcher lives exactly as long as the port: when stdin
	// closes, Serve returns and the deferred cancel stops it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go res.Watch(ctx)
	rr := &reach.Resolver{R: res, Decider: decider}
	if conn := api.SSH(); conn != nil {
		conn.Log, rr.Tunnel = log, conn
	}
	srv := &port.Server{Resolver: rr, Log: log, Version: version()}
	return srv.Serve(ctx, c.std.in, c.std.out)
}
