package wire

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ergo-services/ergo/etf"
)

// Container is one running container as a list reply describes it.
type Container struct {
	ID       string     // full ID
	Name     string     // without Docker's leading '/'
	Hostname string     // what a node in it calls its host by default
	Addr     netip.Addr // the zero Addr means none
}

// The reply builders return a complete body, version byte included, ready
// for WriteFrame. Text goes out as []byte, because ergo encodes a Go string
// as a charlist.

// Protocol is the version of the grammar in the package comment, sent in
// every pong. It changes whenever the grammar does in a way that an owner
// written for the previous one would misread: 1 had no pushes and a pong
// without it, 2 added pushes, endpoint replies and exit statuses.
const Protocol = 2

// PongReply builds {Tag, {pong, Version, Protocol}}.
func PongReply(tag uint32, version string) ([]byte, error) {
	return reply(tag, etf.Tuple{etf.Atom("pong"), []byte(version), Protocol})
}

// Endpoint is the answer to a resolve: where a node is reached. With Port
// zero, Addr is where to ask epmd for the node's port ({ok, Ip}); otherwise
// Addr:Port is dialled directly, skipping epmd ({ok, Ip, Port}).
type Endpoint struct {
	Addr netip.Addr
	Port uint16 // 0: ask the epmd at Addr
}

// String is Addr, or Addr:Port when the port is known.
func (e Endpoint) String() string {
	if e.Port == 0 {
		return e.Addr.String()
	}
	return netip.AddrPortFrom(e.Addr, e.Port).String()
}

// EndpointReply builds {Tag, {ok, Ip}} or {Tag, {ok, Ip, Port}}, Ip being a
// 4-tuple for an IPv4 address and an 8-tuple for an IPv6 one (an
// IPv4-mapped one included: unmapping is the caller's choice). A zone is
// dropped: inet:ip_address() has none.
func EndpointReply(tag uint32, e Endpoint) ([]byte, error) {
	ip, err := ipTerm(e.Addr)
	if err != nil {
		return nil, err
	}
	if e.Port == 0 {
		return reply(tag, etf.Tuple{etf.Atom("ok"), ip})
	}
	return reply(tag, etf.Tuple{etf.Atom("ok"), ip, int(e.Port)})
}

// ListReply builds {Tag, {ok, [{Id, Name, Hostname, Ip | none}]}}.
func ListReply(tag uint32, cs []Container) ([]byte, error) {
	list := make(etf.List, 0, len(cs))
	for _, c := range cs {
		var ip etf.Term = etf.Atom("none")
		if c.Addr.IsValid() {
			var err error
			if ip, err = ipTerm(c.Addr); err != nil {
				return nil, err
			}
		}
		list = append(list, etf.Tuple{[]byte(c.ID), []byte(c.Name), []byte(c.Hostname), ip})
	}
	return reply(tag, etf.Tuple{etf.Atom("ok"), list})
}

// NodesReply builds {Tag, {ok, [Node :: binary()]}}.
func NodesReply(tag uint32, nodes []string) ([]byte, error) {
	list := make(etf.List, len(nodes))
	for i, n := range nodes {
		list[i] = []byte(n)
	}
	return reply(tag, etf.Tuple{etf.Atom("ok"), list})
}

// ErrorReply builds {Tag, {error, Reason}} with ReasonOf(err), or
// {Tag, {error, {ambiguous, Candidates}}} for an *AmbiguousError.
func ErrorReply(tag uint32, err error) ([]byte, error) {
	var reason etf.Term = etf.Atom(ReasonOf(err))
	if amb := (*AmbiguousError)(nil); errors.As(err, &amb) {
		cands := make(etf.List, len(amb.Candidates))
		for i, c := range amb.Candidates {
			cands[i] = []byte(c)
		}
		reason = etf.Tuple{etf.Atom(ReasonAmbiguous), cands}
	}
	return reply(tag, etf.Tuple{etf.Atom("error"), reason})
}

// reply builds {Tag, Answer}.
func reply(tag uint32, answer etf.Term) ([]byte, error) {
	b, err := encodeTerm(etf.Tuple{tag, answer})
	if err != nil {
		return nil, fmt.Errorf("reply to %d: %w", tag, err)
	}
	return b, nil
}

// ipTerm returns addr as inet:ip_address().
func ipTerm(addr netip.Addr) (etf.Tuple, error) {
	switch {
	case !addr.IsValid():
		return nil, errors.New("no address to encode")
	case addr.Is4():
		a := addr.As4()
		return etf.Tuple{a[0], a[1], a[2], a[3]}, nil
	default:
		a := addr.As16()
		t := make(etf.Tuple, 8)
		for i := range t {
			t[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
		}
		return t, nil
	}
}
