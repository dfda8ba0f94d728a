package main

import (
	"context"
	"net/netip"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
)

// tunnelAt returns where the commands that ask a container's epmd or node
// themselves (ls, remsh) dial to reach an address as the daemon's host
// sees it: the address itself, or for a daemon reached over SSH the local
// end of a tunnel to it. api is the lister or client the command has;
// anything but an ssh:// *docker.Client dials directly.
func tunnelAt(ctx context.Context, api any) func(netip.AddrPort) netip.AddrPort {
	c, ok := api.(*docker.Client)
	if !ok || c.SSH() == nil {
		return func(ap netip.AddrPort) netip.AddrPort { return ap }
	}
	dec := reach.Decision{Mode: reach.Direct}
	if d, err := newDecider(c); err == nil {
		if got, err := d.Decide(ctx); err == nil {
			dec = got
		}
	}
	return func(ap netip.AddrPort) netip.AddrPort {
		// A tunnel that cannot listen leaves the address as it is: the
		// dial then fails, and says where it went.
		if local, err := reach.Local(ctx, c.SSH(), dec, ap); err == nil {
			return local
		}
		return ap
	}
}
