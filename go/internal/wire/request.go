package wire

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/ergo-services/ergo/etf"
)

// Command is the verb of a request.
type Command uint8

// The commands of the grammar. The zero Command is none of them.
const (
	Ping Command = iota + 1
	Resolve
	List
	Nodes
)

// String returns the command's atom.
func (c Command) String() string {
	switch c {
	case Ping:
		return "ping"
	case Resolve:
		return "resolve"
	case List:
		return "list"
	case Nodes:
		return "nodes"
	default:
		return fmt.Sprintf("Command(%d)", uint8(c))
	}
}

// Family is the address family a resolve command asks for.
type Family uint8

// The families of the grammar. The zero Family is neither.
const (
	Inet  Family = iota + 1 // IPv4
	Inet6                   // IPv6
)

// String returns the family's atom.
func (f Family) String() string {
	switch f {
	case Inet:
		return "inet"
	case Inet6:
		return "inet6"
	default:
		return fmt.Sprintf("Family(%d)", uint8(f))
	}
}

// MaxHostLen is the longest host a resolve command may carry, the DNS limit
// on a full name; Docker's own names are shorter still.
const MaxHostLen = 255

// Request is one decoded request.
type Request struct {
	Tag    uint32 // echoed in the reply
	Cmd    Command
	Host   string // Resolve only; passed CheckHost
	Family Family // Resolve only
}

// DecodeRequest decodes a frame body.
//
// If the error matches ErrUnreadableTag there is no tag to reply to.
// Otherwise the returned Request's Tag is valid even when the error is not
// nil, and the error matches ErrBadRequest or ErrBadHost; ErrorReply turns it
// into the reply.
func DecodeRequest(body []byte) (Request, error) {
	if len(body) > MaxFrame {
		return Request{}, fmt.Errorf("%w: %d-byte body", ErrUnreadableTag, len(body))
	}
	if len(body) == 0 || body[0] != versionByte {
		return Request{}, fmt.Errorf("%w: not external term format", ErrUnreadableTag)
	}
	b := body[1:]
	tag, err := peekTag(b)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrUnreadableTag, err)
	}
	req := Request{Tag: tag}
	term, err := decodeTerm(b)
	if err != nil {
		return req, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	// peekTag has seen the 2-tuple header, and decodeTerm the whole of it.
	t, ok := term.(etf.Tuple)
	if !ok || len(t) != 2 {
		return req, fmt.Errorf("%w: decoded %T", ErrBadRequest, term)
	}
	req.Cmd, req.Host, req.Family, err = parseCommand(t[1])
	return req, err
}

// peekTag reads the Tag of {Tag, _} on its own, so that a request whose
// command is garbage can still get an error reply.
func peekTag(b []byte) (uint32, error) {
	// term_to_binary/1 writes a 2-tuple as SMALL_TUPLE_EXT.
	if len(b) < 2 || b[0] != smallTupleExt || b[1] != 2 {
		return 0, fmt.Errorf("not a 2-tuple")
	}
	b = b[2:]
	if len(b) == 0 || (b[0] != smallIntegerExt && b[0] != integerExt && b[0] != smallBigExt) {
		return 0, fmt.Errorf("not an integer")
	}
	rest, err := checkTerm(b, 1)
	if err != nil {
		return 0, err
	}
	term, err := decodeTerm(b[:len(b)-len(rest)])
	if err != nil {
		return 0, err
	}
	// ergo decodes SMALL_INTEGER_EXT to int, INTEGER_EXT to int64 (signed:
	// Erlang uses it for negatives too), and SMALL_BIG_EXT, which checkTerm
	// limits to 8 bytes, to int64, or uint64 above math.MaxInt64.
	var v uint64
	switch n := term.(type) {
	case int:
		if n < 0 {
			return 0, fmt.Errorf("tag %d out of range", n)
		}
		v = uint64(n)
	case int64:
		if n < 0 {
			return 0, fmt.Errorf("tag %d out of range", n)
		}
		v = uint64(n)
	case uint64:
		v = n
	default:
		return 0, fmt.Errorf("tag of type %T out of range", term)
	}
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("tag %d out of range", v)
	}
	return uint32(v), nil
}

// parseCommand matches the decoded Command term against the grammar.
func parseCommand(term etf.Term) (Command, string, Family, error) {
	switch c := term.(type) {
	case etf.Atom:
		switch c {
		case "ping":
			return Ping, "", 0, nil
		case "list":
			return List, "", 0, nil
		case "nodes":
			return Nodes, "", 0, nil
		}
		return 0, "", 0, fmt.Errorf("%w: unknown command %q", ErrBadRequest, string(c))
	case etf.Tuple:
		if len(c) != 3 || c[0] != etf.Atom("resolve") {
			return 0, "", 0, fmt.Errorf("%w: unknown command tuple of size %d", ErrBadRequest, len(c))
		}
		var host string
		switch h := c[1].(type) {
		case []byte:
			host = string(h)
		case string:
			// A charlist of bytes arrives as STRING_EXT. Accepting it costs
			// one line and forgives an Erlang caller that forgot
			// list_to_binary/1.
			host = h
		case etf.List:
			// "" is NIL_EXT; any other list is not a hostname.
			if len(h) != 0 {
				return 0, "", 0, fmt.Errorf("%w: host is a list", ErrBadHost)
			}
		default:
			return 0, "", 0, fmt.Errorf("%w: host of type %T", ErrBadRequest, c[1])
		}
		var fam Family
		switch c[2] {
		case etf.Atom("inet"):
			fam = Inet
		case etf.Atom("inet6"):
			fam = Inet6
		default:
			return 0, "", 0, fmt.Errorf("%w: family %v", ErrBadRequest, c[2])
		}
		if err := CheckHost(host); err != nil {
			return 0, "", 0, err
		}
		return Resolve, host, fam, nil
	default:
		return 0, "", 0, fmt.Errorf("%w: command of type %T", ErrBadRequest, term)
	}
}

// CheckHost reports, as an error matching ErrBadHost, whether host cannot be
// a container's hostname, name, ID, alias or service name. Those are made of
// letters, digits, '.', '-' and '_' (Docker's names allow '_', hostnames do
// not but aliases do), beginning with a letter or digit. The check is strict
// on purpose: a host travels into logs, Docker API paths and query filters,
// and nothing legitimate needs a space, a slash, a NUL or a '$'.
func CheckHost(host string) error {
	switch {
	case host == "":
		return fmt.Errorf("%w: empty", ErrBadHost)
	case len(host) > MaxHostLen:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBadHost, len(host), MaxHostLen)
	case !utf8.ValidString(host):
		return fmt.Errorf("%w: not UTF-8", ErrBadHost)
	}
	for i, c := range host {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '-' || c == '_') && i > 0:
		default:
			return fmt.Errorf("%w: %q at byte %d", ErrBadHost, c, i)
		}
	}
	return nil
}
