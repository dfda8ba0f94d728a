package port

import (
	"context"
	"net/netip"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Dialer is implemented by a Resolver that may answer a host with a port
// to dial directly, skipping epmd: a container reached through its
// published distribution port (wire.DialReply, {ok, Ip, Port}). When the
// Resolver is one, resolve requests go to ResolveDial instead of Resolve.
type Dialer interface {
	// ResolveDial returns the address of family fam to dial for host,
	// with port 0 when the port is to be asked of the epmd there.
	ResolveDial(ctx context.Context, host string, fam wire.Family) (netip.AddrPort, error)
}

// resolveDial answers a resolve request through d.
func (ss *session) resolveDial(ctx context.Context, d Dialer, req wire.Request) ([]byte, error) {
	ap, err := d.ResolveDial(ctx, req.Host, req.Family)
	if err != nil {
		return nil, err
	}
	addr, err := matchFamily(ap.Addr(), req.Family)
	if err != nil {
		return nil, err
	}
	if ap.Port() == 0 {
		return wire.AddrReply(req.Tag, addr)
	}
	return wire.DialReply(req.Tag, netip.AddrPortFrom(addr, ap.Port()))
}
