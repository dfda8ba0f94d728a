package wire

import (
	"fmt"

	"github.com/ergo-services/ergo/etf"
)

// Push is an unsolicited frame, {push, Event}; see the package comment.
// Build one with StreamUp, StreamDown, InvalidateAll, Invalidate or Fatal.
type Push struct {
	event etf.Term
	text  string // for logs
}

// StreamUp is {push, {stream, up}}: every later change will be pushed.
func StreamUp() Push { return Push{etf.Tuple{etf.Atom("stream"), etf.Atom("up")}, "stream up"} }

// StreamDown is {push, {stream, down}}: changes may go unpushed until the
// next StreamUp.
func StreamDown() Push { return Push{etf.Tuple{etf.Atom("stream"), etf.Atom("down")}, "stream down"} }

// InvalidateAll is {push, {invalidate, all}}.
func InvalidateAll() Push {
	return Push{etf.Tuple{etf.Atom("invalidate"), etf.Atom("all")}, "invalidate all"}
}

// Invalidate is {push, {invalidate, [Host]}}. Hosts are sent as given:
// the caller passes them lowercase, without a trailing dot, as the grammar
// wants. No hosts is InvalidateAll's opposite: a push that drops nothing.
func Invalidate(hosts []string) Push {
	l := make(etf.List, len(hosts))
	for i, h := range hosts {
		l[i] = []byte(h)
	}
	return Push{etf.Tuple{etf.Atom("invalidate"), l}, fmt.Sprintf("invalidate %v", hosts)}
}

// Fatal is {push, {fatal, Message}}: the helper cannot run as configured,
// Message says why for people; port mode exits with status 78 after it.
func Fatal(message string) Push {
	return Push{etf.Tuple{etf.Atom("fatal"), []byte(message)}, "fatal: " + message}
}

// String describes the push for logs.
func (p Push) String() string { return p.text }

// Encode returns the push's body, version byte included, ready for
// WriteFrame.
func (p Push) Encode() ([]byte, error) {
	if p.event == nil {
		return nil, fmt.Errorf("encode push: empty push")
	}
	b, err := encodeTerm(etf.Tuple{etf.Atom("push"), p.event})
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", p.text, err)
	}
	return b, nil
}
