package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxForwards bounds the local listeners one Conn keeps: one per
// container address and port asked for, which a helper asks for only for
// the containers it is asked about.
const maxForwards = 4096

// dialTimeout bounds opening one channel for a forwarded connection.
const dialTimeout = 15 * time.Second

// forward is a local listener whose connections are tunnelled to remote.
type forward struct {
	ln     net.Listener
	remote netip.AddrPort
}

// Forward returns a local address, on 127.0.0.1, whose connections are
// tunnelled over the master to remote as the server sees it (a container's
// epmd, or its node's distribution port). The listener lasts as long as
// the Conn, across masters: every connection opens its own channel, over
// the master of the moment. Only this user's processes are served, where
// the system tells (Linux); others are refused at once.
func (c *Conn) Forward(ctx context.Context, remote netip.AddrPort) (netip.AddrPort, error) {
	key := remote.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return netip.AddrPort{}, fmt.Errorf("ssh %s: connection closed", c.Server())
	}
	if f, ok := c.fwd[key]; ok {
		return addrPortOf(f.ln.Addr()), nil
	}
	if len(c.fwd) >= maxForwards {
		return netip.AddrPort{}, fmt.Errorf("ssh %s: more than %d tunnels", c.Server(), maxForwards)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("tunnel to %s: %w", remote, err)
	}
	f := &forward{ln: ln, remote: remote}
	c.fwd[key] = f
	go c.serve(f)
	c.logger().Debug("tunnel listening", "local", ln.Addr().String(), "remote", key, "server", c.Server())
	return addrPortOf(ln.Addr()), nil
}

// serve accepts on f until its listener closes.
func (c *Conn) serve(f *forward) {
	for {
		local, err := f.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go c.pipe(f, local)
	}
}

// pipe tunnels one accepted connection.
func (c *Conn) pipe(f *forward, local net.Conn) {
	defer local.Close()
	if err := sameUser(local); err != nil {
		c.logger().Warn("tunnel refused a connection", "local", f.ln.Addr().String(), "err", err)
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	remote, err := c.Dial(ctx, "tcp", f.remote.String())
	cancel()
	if err != nil {
		c.logger().Warn("tunnel cannot open a channel", "remote", f.remote.String(), "err", err)
		return
	}
	c.logger().Debug("tunnel channel", "remote", f.remote.String(), "took", time.Since(start))
	defer remote.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(remote, local)
		if cw, ok := remote.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	_, _ = io.Copy(local, remote)
	// The far end is done: so is the near one, whatever it still sends.
	local.Close()
	wg.Wait()
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
