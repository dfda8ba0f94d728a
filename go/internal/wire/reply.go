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

// PongReply builds {Tag, {pong, Version}}.
func PongReply(tag uint32, version string) ([]byte, error) {
	return reply(tag, etf.Tuple{etf.Atom("pong"), []byte(version)})
}

// AddrReply builds {Tag, {ok, Ip}}, Ip being a 4-tuple for an IPv4 address
// and an 8-tuple for an IPv6 one (an IPv4-mapped one included: unmapping is
// the caller's choice). A zone is dropped: inet:ip_address() has none.
func AddrReply(tag uint32, addr netip.Addr) ([]byte, error) {
	ip, err := ipTerm(addr)
	if err != nil {
		return nil, err
	}
	return reply(tag, etf.Tuple{etf.Atom("ok"), ip})
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
