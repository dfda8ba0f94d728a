// Package epmd asks an Erlang port mapper daemon which nodes are registered
// with it, as erl_epmd:names/1 does: one NAMES_REQ over TCP, bounded by the
// caller's context.
//
// The request is the two-byte length 1 and the byte 'n' (110). The daemon
// answers with its own port as four big-endian bytes, then one line
// "name NAME at port PORT" per registered node, and closes the connection.
package epmd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is where epmd listens unless ERL_EPMD_PORT says otherwise.
const DefaultPort = 4369

// maxReply bounds what is read from a daemon: a thousand nodes take some
// 40 KiB, so anything near this is not an epmd.
const maxReply = 1 << 20

// Node is one node registered with an epmd.
type Node struct {
	Name string `json:"name"` // the part before the @
	Port int    `json:"port"` // its distribution port
}

// ErrNotEPMD means something answered that does not speak the epmd protocol.
var ErrNotEPMD = errors.New("not an epmd reply")

// Names returns the nodes registered with the epmd at addr, in the order the
// daemon lists them. It returns when ctx ends, with ctx's error; a caller
// probing many daemons gives each a short deadline.
func Names(ctx context.Context, addr netip.AddrPort) ([]Node, error) {
	return names(ctx, addr, 0)
}

// RelayQuiet is the quiet NamesThrough is given by the callers that ask
// through a relay: far longer than epmd takes to write its reply, far
// shorter than the second a port-forward takes to pass its close on.
const RelayQuiet = 100 * time.Millisecond

// NamesThrough is Names for an epmd reached through a relay that passes the
// daemon's close on late: a Kubernetes port-forward takes about a second
// to, where a reply takes a millisecond. The reply counts as complete once
// it ends with a whole line (or is the bare port, no nodes) and nothing
// more has come for quiet. epmd writes its reply at once, then closes.
func NamesThrough(ctx context.Context, addr netip.AddrPort, quiet time.Duration) ([]Node, error) {
	return names(ctx, addr, quiet)
}

// names asks, and reads the reply until the daemon closes, or with quiet
// above zero, until a complete reply has been followed by quiet of nothing.
func names(ctx context.Context, addr netip.AddrPort, quiet time.Duration) ([]Node, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer conn.Close()
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		_ = conn.SetDeadline(deadline)
	}
	// A context cancelled without a deadline must still unblock the read.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write([]byte{0, 1, 'n'}); err != nil {
		return nil, ctxErr(ctx, err)
	}
	var body []byte
	chunk := make([]byte, 4096)
	for {
		waiting := quiet > 0 && complete(body)
		if waiting {
			until := time.Now().Add(quiet)
			if hasDeadline && deadline.Before(until) {
				until = deadline
			}
			if ctx.Err() == nil {
				_ = conn.SetReadDeadline(until)
			}
		}
		n, err := conn.Read(chunk)
		body = append(body, chunk[:n]...)
		if len(body) > maxReply {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrNotEPMD, maxReply)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
		case waiting && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil:
			// Quiet after a complete reply: the close is on its way.
		default:
			return nil, ctxErr(ctx, err)
		}
		return parse(body)
	}
}

// complete tells whether body could be a whole NAMES_RESP: the port, and
// lines that all end.
func complete(body []byte) bool {
	return len(body) == 4 || len(body) > 4 && body[len(body)-1] == '\n'
}

// parse reads a NAMES_RESP.
func parse(body []byte) ([]Node, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotEPMD, len(body))
	}
	_ = binary.BigEndian.Uint32(body) // the daemon's own port, known already
	var nodes []Node
	sc := bufio.NewScanner(strings.NewReader(string(body[4:])))
	sc.Buffer(nil, maxReply)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		rest, ok := strings.CutPrefix(line, "name ")
		if !ok {
			return nil, fmt.Errorf("%w: line %q", ErrNotEPMD, line)
		}
		name, port, ok := strings.Cut(rest, " at port ")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: line %q", ErrNotEPMD, line)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: port in line %q", ErrNotEPMD, line)
		}
		nodes = append(nodes, Node{Name: name, Port: n})
	}
	return nodes, sc.Err()
}

// ctxErr prefers the context's error to the I/O error it caused; the
// connection's deadline is the context's, and may fire first.
func ctxErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return context.DeadlineExceeded
	default:
		return err
	}
}
