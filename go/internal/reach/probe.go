package reach

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
)

// verdict is whether a network's container addresses are reachable here.
type verdict struct {
	reachable bool
	at        time.Time
}

// reachable tells whether this host reaches m's network: from the
// network's verdict, else by probing m's address, waiting for it at most
// until ctx ends (then reachable, the default, is assumed for this answer).
func (d *Decider) reachable(ctx context.Context, m resolve.Match) bool {
	if alwaysReachable(m) {
		return true
	}
	d.mu.Lock()
	v, ok := d.verdicts[m.Network]
	if ok && time.Since(v.at) < VerdictTTL {
		d.mu.Unlock()
		return v.reachable
	}
	done := d.probeLocked(m.Network, probeAddr(m))
	d.mu.Unlock()
	if ok {
		// A stale verdict stands until the new probe has spoken.
		return v.reachable
	}
	select {
	case <-done:
	case <-ctx.Done():
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.verdicts[m.Network].reachable
}

// probeAddr is the address probed for m's network: its IPv4 address there
// when it has one, since a new IPv6 address stays tentative (unusable) for
// a moment, and the verdict holds for the network, whatever the family.
func probeAddr(m resolve.Match) netip.Addr {
	if m.Addr.Is6() {
		for _, n := range m.Networks {
			if n.Name == m.Network && n.IPv4.IsValid() {
				return n.IPv4
			}
		}
	}
	return m.Addr
}

// alwaysReachable tells whether m needs no probe: on the host's network,
// or at no address or a loopback one.
func alwaysReachable(m resolve.Match) bool {
	return m.Network == "host" || !m.Addr.IsValid() || m.Addr.IsLoopback()
}

// probeLocked starts probing network at addr, unless that runs already,
// and returns a channel closed when the verdict is in.
func (d *Decider) probeLocked(network string, addr netip.Addr) <-chan struct{} {
	if ch, ok := d.probing[network]; ok {
		return ch
	}
	if d.probing == nil {
		d.probing = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	d.probing[network] = ch
	probe := d.Probe
	if probe == nil {
		probe = Reachable
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
		ok := probe(ctx, netip.AddrPortFrom(addr, ProbePort))
		cancel()
		d.mu.Lock()
		defer d.mu.Unlock()
		old, had := d.verdicts[network]
		if d.verdicts == nil || len(d.verdicts) >= maxVerdicts {
			d.verdicts = map[string]verdict{}
		}
		d.verdicts[network] = verdict{reachable: ok, at: time.Now()}
		delete(d.probing, network)
		close(ch)
		// A lookup that could not wait for this verdict was answered as
		// if reachable.
		if had && old.reachable != ok || !had && !ok {
			d.changedLocked()
		}
	}()
	return ch
}

// Reachable tells whether this host reaches ap: a TCP connect that is
// accepted, or refused by the far end (the address answered), says yes;
// a timeout, or no route, says no.
func Reachable(ctx context.Context, ap netip.AddrPort) bool {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", ap.String())
	if err == nil {
		c.Close()
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
