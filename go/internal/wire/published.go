package wire

import (
	"errors"
	"net/netip"

	"github.com/ergo-services/ergo/etf"
)

// ErrNotPublished means the container was found, but it is to be reached
// through a published port (EPMD_DOCKER_MODE) and publishes none that can
// be told to be its distribution port. Sent as not_published.
var ErrNotPublished = errors.New("container publishes no distribution port")

// ReasonNotPublished is the atom for ErrNotPublished.
const ReasonNotPublished Reason = "not_published"

// DialReply builds {Tag, {ok, Ip, Port}}: dial Ip:Port directly, without
// asking an epmd (a published distribution port). Ip is encoded as in
// AddrReply.
func DialReply(tag uint32, ap netip.AddrPort) ([]byte, error) {
	if ap.Port() == 0 {
		return nil, errors.New("no port to encode")
	}
	ip, err := ipTerm(ap.Addr())
	if err != nil {
		return nil, err
	}
	return reply(tag, etf.Tuple{etf.Atom("ok"), ip, int(ap.Port())})
}
