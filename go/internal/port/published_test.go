package port

import (
	"context"
	"net/netip"
	"testing"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// dialResolver is a fakeResolver that also answers ResolveDial.
type dialResolver struct {
	fakeResolver
	dial map[string]netip.AddrPort
	errs map[string]error
}

func (d *dialResolver) ResolveDial(_ context.Context, host string, _ wire.Family) (netip.AddrPort, error) {
	if err, ok := d.errs[host]; ok {
		return netip.AddrPort{}, err
	}
	return d.dial[host], nil
}

func TestResolveDial(t *testing.T) {
	r := &dialResolver{
		dial: map[string]netip.AddrPort{
			"pub":    netip.MustParseAddrPort("127.0.0.1:32768"),
			"direct": netip.MustParseAddrPort("172.17.0.2:0"),
			"v6":     netip.MustParseAddrPort("[::1]:9100"),
		},
		errs: map[string]error{"bare": wire.ErrNotPublished},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := start(t, ctx, &Server{Resolver: r})
	h.send(resolve(1, "pub", "inet"))
	// {1, {ok, {127,0,0,1}, 32768}}: as term_to_binary/1 writes it, but
	// for the atom ok in SMALL_ATOM_UTF8_EXT (119) where erl writes
	// ATOM_EXT (100, 0, 2); binary_to_term/2 reads both.
	h.expect([]byte{131, 104, 2, 97, 1, 104, 3, 119, 2, 111, 107, 104, 4, 97, 127, 97, 0, 97, 0, 97, 1, 98, 0, 0, 128, 0})
	h.send(resolve(2, "direct", "inet"))
	h.expect(addrReply(2, "172.17.0.2"))
	h.send(resolve(3, "bare", "inet"))
	h.expect(errReply(3, wire.ErrNotPublished))
	// An address of the wrong family is never sent.
	h.send(resolve(4, "v6", "inet"))
	h.expect(errReply(4, wire.ErrNoAddress))
}
