// Package dist speaks the opening of the Erlang distribution handshake
// (protocol version 6, OTP 23 and later; ERTS User's Guide, "Distribution
// Protocol"), just far enough to ask a node its exact name and, given a
// cookie, whether it accepts that cookie. It never sends a message over the
// connection and hangs up once it knows.
//
// Asking is worth a connection because the name a node is dialled by must
// be the very name it calls itself, and its epmd knows only the part
// before the @; and because erl -remsh with a wrong cookie does not fail,
// it leaves a dead shell (OTP 25).
//
// The exchange, each message preceded by a two-byte big-endian length:
//
//	-> 'N' Flags:64 Creation:32 NameLen:16 Name        send_name
//	<- 's' Status                                       "ok", "not_allowed", ...
//	<- 'N' Flags:64 Challenge:32 Creation:32 NameLen:16 Name
//	-> 'r' OurChallenge:32 md5(Cookie ++ decimal(Challenge))
//	<- 'a' md5(Cookie ++ decimal(OurChallenge))         or a closed socket
//
// A node creates an atom for every name that connects to it, and never
// frees it: callers should reuse a name (the one erl will use next, or one
// fixed name for probes), not make up a new one per call.
package dist

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// Capability flags (lib/kernel/include/dist.hrl).
const (
	flagPublished          = 0x01
	flagExtendedReferences = 0x04
	flagDistMonitor        = 0x08
	flagFunTags            = 0x10
	flagDistMonitorName    = 0x20
	flagNewFunTags         = 0x80
	flagExtendedPidsPorts  = 0x100
	flagExportPtrTag       = 0x200
	flagBitBinaries        = 0x400
	flagNewFloats          = 0x800
	flagUnicodeIO          = 0x1000
	flagUTF8Atoms          = 0x10000
	flagMapTag             = 0x20000
	flagBigCreation        = 0x40000
	flagSendSender         = 0x80000
	flagBigSeqtraceLabels  = 0x100000
	flagExitPayload        = 0x400000
	flagFragments          = 0x800000
	flagHandshake23        = 0x1000000
	flagUnlinkID           = 0x2000000
	flagMandatory25Digest  = 0x4000000
	flagSpawn              = 1 << 32
	flagV4NC               = 4 << 32
	flagAlias              = 8 << 32
)

// ourFlags are what a current node offers, without DFLAG_PUBLISHED: the
// connection is a hidden node's. Every flag some OTP release makes
// mandatory is among them (OTP 25: the MANDATORY_DFLAGS_25 set; OTP 26
// adds V4_NC and UNLINK_ID), so that no node refuses the connection for a
// missing capability. None is ever used: no message is sent.
const ourFlags = flagExtendedReferences | flagDistMonitor | flagFunTags | flagDistMonitorName |
	flagNewFunTags | flagExtendedPidsPorts | flagExportPtrTag | flagBitBinaries | flagNewFloats |
	flagUnicodeIO | flagUTF8Atoms | flagMapTag | flagBigCreation | flagSendSender |
	flagBigSeqtraceLabels | flagExitPayload | flagFragments | flagHandshake23 | flagUnlinkID |
	flagMandatory25Digest | flagSpawn | flagV4NC | flagAlias

// Errors of Name and Check.
var (
	// ErrBadCookie means the node closed the connection on our digest:
	// it holds another cookie.
	ErrBadCookie = errors.New("the node refused the cookie")
	// ErrNotAllowed means the node does not accept connections from our
	// name (net_kernel:allow/1), or lacks a capability.
	ErrNotAllowed = errors.New("the node does not allow this connection")
	// ErrProtocol means the peer did not answer as an OTP 23 or later
	// node: an older node, TLS distribution, or not a node at all.
	ErrProtocol = errors.New("not an Erlang distribution handshake")
	// ErrBusy means the node already has a connection, or one being set
	// up, from our name.
	ErrBusy = errors.New("the node is already connected to this name")
)

// Name asks the node listening at addr for the name it calls itself,
// introducing ourselves as self (name@host). It needs no cookie: the node
// tells its name before it asks for proof.
func Name(ctx context.Context, addr netip.AddrPort, self string) (string, error) {
	return handshake(ctx, addr, self, "", false)
}

// Check completes the handshake with cookie, and returns the node's name
// when the node accepts the cookie, ErrBadCookie when it does not. The
// cookie only goes into the digest: it never crosses the wire.
func Check(ctx context.Context, addr netip.AddrPort, self, cookie string) (string, error) {
	return handshake(ctx, addr, self, cookie, true)
}

// maxMessage bounds a handshake message; the longest is a challenge with a
// 255-byte node name.
const maxMessage = 1024

func handshake(ctx context.Context, addr netip.AddrPort, self, cookie string, complete bool) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return "", ctxErr(ctx, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var creation [4]byte
	if _, err := rand.Read(creation[:]); err != nil {
		return "", err
	}
	creation[0] |= 0x10 // never 0, and not one of the small pre-OTP-23 creations
	msg := []byte{'N'}
	msg = binary.BigEndian.AppendUint64(msg, ourFlags)
	msg = append(msg, creation[:]...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(self)))
	msg = append(msg, self...)
	if err := send(conn, msg); err != nil {
		return "", ctxErr(ctx, err)
	}

	status, err := recv(conn)
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("%w: no status: %w", ErrProtocol, err))
	}
	switch s := string(status); s {
	case "sok", "sok_simultaneous":
	case "snot_allowed":
		return "", ErrNotAllowed
	case "salive", "snok":
		if s == "salive" {
			_ = send(conn, []byte("sfalse"))
		}
		return "", ErrBusy
	default:
		return "", fmt.Errorf("%w: status %q", ErrProtocol, trim(status))
	}

	ch, err := recv(conn)
	if err != nil {
		return "", ctxErr(ctx, fmt.Errorf("%w: no challenge: %w", ErrProtocol, err))
	}
	// 'N' Flags:64 Challenge:32 Creation:32 NameLen:16 Name
	if len(ch) < 19 || ch[0] != 'N' {
		return "", fmt.Errorf("%w: challenge %q", ErrProtocol, trim(ch))
	}
	challenge := binary.BigEndian.Uint32(ch[9:13])
	nlen := int(binary.BigEndian.Uint16(ch[17:19]))
	if len(ch) < 19+nlen || nlen == 0 {
		return "", fmt.Errorf("%w: challenge %q", ErrProtocol, trim(ch))
	}
	name := string(ch[19 : 19+nlen])
	if !complete {
		return name, nil
	}

	var ours [4]byte
	if _, err := rand.Read(ours[:]); err != nil {
		return "", err
	}
	reply := []byte{'r'}
	reply = append(reply, ours[:]...)
	reply = append(reply, Digest(challenge, cookie)...)
	if err := send(conn, reply); err != nil {
		return "", ctxErr(ctx, err)
	}
	ack, err := recv(conn)
	switch {
	case err != nil && ctx.Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded):
		// The node hangs up on a wrong digest, and logs
		// "Connection attempt from node ... rejected".
		return name, ErrBadCookie
	case err != nil:
		return name, ctxErr(ctx, err)
	case len(ack) != 17 || ack[0] != 'a':
		return name, fmt.Errorf("%w: ack %q", ErrProtocol, trim(ack))
	case !bytes.Equal(ack[1:], Digest(binary.BigEndian.Uint32(ours[:]), cookie)):
		// The node proved a different cookie: it accepted ours by
		// its own per-node setting, but the shell would not.
		return name, ErrBadCookie
	}
	return name, nil
}

// Digest is the handshake's proof of a cookie for a challenge:
// md5(Cookie ++ integer_to_list(Challenge)), as dist_util:gen_digest/2.
func Digest(challenge uint32, cookie string) []byte {
	sum := md5.Sum([]byte(cookie + strconv.FormatUint(uint64(challenge), 10)))
	return sum[:]
}

func send(w io.Writer, msg []byte) error {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

func recv(r io.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint16(n[:]))
	if size == 0 || size > maxMessage {
		return nil, fmt.Errorf("message of %d bytes", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// trim shortens bytes for an error message.
func trim(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// ctxErr prefers the context's error to the I/O error it caused.
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
