// Package discover finds the Erlang nodes in running containers, the way
// each container is reached (package reach): one function that ls, remsh,
// eval and the port's nodes command share.
//
// Reached directly, a container's own epmd is asked for the names it
// knows, and each node, at its distribution port, for the exact name it
// calls itself (the opening of a distribution handshake, package dist).
// Reached through a published distribution port, there is no epmd to ask:
// the node at that port tells its name in the same way.
//
// A process in a container can register any name with its epmd, and as
// many as it likes. Only valid node names are kept (ValidNode), at most
// MaxPerContainer of them per container: names travel into terminals and
// become atoms on the Erlang side, which are never freed.
package discover

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/epmd-docker/epmd_docker/go/internal/dist"
	"github.com/epmd-docker/epmd_docker/go/internal/epmd"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// MaxPerContainer bounds the nodes kept for one container, the limit the
// port protocol promises (go/internal/wire/doc.go).
const MaxPerContainer = 64

// Target is one container, as far as finding its nodes goes.
type Target struct {
	Addr     netip.Addr // its own address; asked when it is reached directly
	Hostname string     // the host part of a node that does not say its name
	Way      reach.Way  // how it is reached
	// Via is where to dial, from here, an address as the daemon's host
	// sees it (the local end of an SSH tunnel); nil dials it as it is.
	Via func(netip.AddrPort) netip.AddrPort
}

// at is where to dial ap of the container, from here.
func (t Target) at(ap netip.AddrPort) netip.AddrPort {
	if t.Via == nil {
		return ap
	}
	return t.Via(ap)
}

// Node is one node found in a container.
type Node struct {
	Name string         // the part before the @
	Node string         // the whole name to dial, name@host
	Port int            // the port it is dialled at from here
	Dial netip.AddrPort // the address and port it is dialled at from here
}

// Found is what Find learnt about one container.
type Found struct {
	Nodes []Node // sorted by name; valid names only
	// Dropped counts the names left out: not valid node names, or over
	// MaxPerContainer.
	Dropped int
}

// ErrNoNode means that nothing answered as a node at a published port.
var ErrNoNode = errors.New("no Erlang node answers at the published port")

// Find returns the nodes in the container t. self is the name (name@host)
// introduced in the handshakes that ask nodes their names: a node keeps
// every name that connected to it as an atom, so callers pass a fixed one.
// The error is that of asking the epmd, or of the handshake at a published
// port (ErrNoNode when something else answers there); a node that does not
// tell its name behind an epmd that knows it is listed as name@Hostname.
func Find(ctx context.Context, t Target, self string) (Found, error) {
	if t.Way.Mode == reach.Published {
		return findPublished(ctx, t, self)
	}
	if !t.Addr.IsValid() {
		return Found{}, wire.ErrNoAddress
	}
	at := t.at(netip.AddrPortFrom(t.Addr, epmd.DefaultPort))
	var names []epmd.Node
	var err error
	if t.Via != nil {
		// Through a tunnel or a port-forward, whose close may come late.
		names, err = epmd.NamesThrough(ctx, at, epmd.RelayQuiet)
	} else {
		names, err = epmd.Names(ctx, at)
	}
	if err != nil {
		return Found{}, err
	}
	slices.SortFunc(names, func(a, b epmd.Node) int { return strings.Compare(a.Name, b.Name) })
	var f Found
	var keep []epmd.Node
	for _, n := range names {
		if ValidName(n.Name) && len(keep) < MaxPerContainer {
			keep = append(keep, n)
		} else {
			f.Dropped++
		}
	}
	found := make([]Node, len(keep))
	var wg sync.WaitGroup
	for i, n := range keep {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ap := t.at(netip.AddrPortFrom(t.Addr, uint16(n.Port)))
			full := n.Name + "@" + t.Hostname
			// The name must be the node's own: its epmd knows only the
			// part before the @, and the host part may be anything
			// (-sname app@web). One that says something else, or
			// something invalid, is taken by its epmd name.
			if got, err := dist.Name(ctx, ap, self); err == nil && ValidNode(got) && strings.HasPrefix(got, n.Name+"@") {
				full = got
			}
			found[i] = Node{Name: n.Name, Node: full, Port: n.Port, Dial: ap}
		}()
	}
	wg.Wait()
	for _, n := range found {
		if ValidNode(n.Node) {
			f.Nodes = append(f.Nodes, n)
		} else {
			f.Dropped++
		}
	}
	return f, nil
}

// findPublished asks the node behind a published distribution port its
// name. One port is one node.
func findPublished(ctx context.Context, t Target, self string) (Found, error) {
	if t.Way.Err != nil {
		return Found{}, t.Way.Err
	}
	got, err := dist.Name(ctx, t.Way.Dial, self)
	switch {
	case errors.Is(err, dist.ErrProtocol):
		return Found{}, fmt.Errorf("%w at %s: %w", ErrNoNode, t.Way.Dial, err)
	case err != nil:
		return Found{}, err
	case !ValidNode(got):
		return Found{Dropped: 1}, nil
	}
	name, _, _ := strings.Cut(got, "@")
	return Found{Nodes: []Node{{Name: name, Node: got, Port: int(t.Way.Dial.Port()), Dial: t.Way.Dial}}}, nil
}

// maxNodeLen is the longest node name: an atom holds 255 characters.
const maxNodeLen = 255

// ValidName reports whether name can be the part of a node name before the
// @: letters, digits, '_', '-' and '.', as erl accepts for -sname and
// -name, and at most 255 bytes.
func ValidName(name string) bool {
	if name == "" || len(name) > maxNodeLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// ValidNode reports whether node is a valid node name, name@host, with a
// host part that is a host name (wire.CheckHost), at most 255 bytes in
// all: the only names worth dialling, printing or making an atom of.
func ValidNode(node string) bool {
	name, host, ok := strings.Cut(node, "@")
	return ok && len(node) <= maxNodeLen && ValidName(name) && wire.CheckHost(host) == nil
}
