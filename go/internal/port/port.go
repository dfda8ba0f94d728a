// Package port is the helper's port mode: it reads requests framed as
// package wire describes from the Erlang port owner on stdin, answers each
// through a Backend, and writes the replies to stdout.
//
// Requests are served concurrently and answered as they complete, so a cold
// lookup never holds up a warm one; the Erlang side matches replies by tag.
// Every request is answered within a deadline, and no input, however
// garbled, stops the server: it exits when its input ends.
package port

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Backend answers the commands that need Docker; *reach.Locator is one.
// Its errors are mapped to reply reasons by wire.ReasonOf, so it returns,
// or wraps with %w, the errors of the grammar in package wire (ErrNotFound,
// ErrNoAddress, ErrNotPublished, ErrUnavailable, a *AmbiguousError) or the
// context's error; anything else is sent as docker_unavailable. Its methods
// are called concurrently, and those with a context should return when it
// ends.
type Backend interface {
	// Endpoint returns where the node of host is reached, for family fam.
	Endpoint(ctx context.Context, host string, fam wire.Family) (wire.Endpoint, error)
	// Peek is Endpoint answered from memory, at once, never waiting;
	// answered is false when only Endpoint can tell. It is called on the
	// goroutine that reads requests, so that the common case is answered
	// where it arrives, never behind slow lookups.
	Peek(host string, fam wire.Family) (e wire.Endpoint, answered bool, err error)
	// List returns the running containers.
	List(ctx context.Context) ([]wire.Container, error)
}

// NodeFinder is a Backend that also answers the nodes command: the names
// of the nodes in every running container (package discover).
type NodeFinder interface {
	Nodes(ctx context.Context) ([]string, error)
}

// Defaults for the Server fields left zero.
const (
	// DefaultTimeout is below the port owner's own call timeout, so the
	// Erlang side gets a reason rather than giving up on its own.
	DefaultTimeout = 1500 * time.Millisecond
	// DefaultMaxInFlight bounds the lookups running at once; far more than a
	// host node's connection storm needs, far fewer than would hurt Docker.
	DefaultMaxInFlight = 256
)

// Server is a configured port server; the zero values of its optional fields
// select the defaults. A Server may serve several streams, one after another
// or at once.
type Server struct {
	Backend Backend      // required
	Log     *slog.Logger // nil discards; must not write to the output stream
	// Version is sent in reply to ping; empty means the main module's
	// version from the build information.
	Version string
	// Timeout bounds each request from the moment it is read to its reply,
	// including any wait for a slot; a request still unanswered then gets
	// {error, timeout}, even if the Backend ignores its context.
	// TimeoutFromEnv gives the one the port owner asks for.
	Timeout time.Duration
	// MaxInFlight bounds the Backend calls running at once. When all are
	// busy, a request waits for a slot, at most until its deadline, which
	// then answers it with timeout; reading goes on meanwhile, so that
	// pings and answers from memory are never held up.
	MaxInFlight int
	// Pushes, if not nil, are written as {push, Event} frames, in the
	// order received, through the same writer as the replies, until the
	// channel closes or the stream ends.
	Pushes <-chan wire.Push
}

// Serve is (&Server{Backend: b, Log: log}).Serve(ctx, in, out).
func Serve(ctx context.Context, in io.Reader, out io.Writer, b Backend, log *slog.Logger) error {
	s := &Server{Backend: b, Log: log}
	return s.Serve(ctx, in, out)
}

// ErrCorrupt is what Serve returns, wrapped, when its input is corrupt
// beyond resynchronisation: a length prefix over wire.MaxFrame. Port mode
// then exits with status 65 (doc.go).
var ErrCorrupt = errors.New("input corrupt")

// errPanic is what a request that panicked is answered with: a bug here,
// which for the Erlang side means no answer from Docker.
var errPanic = errors.New("internal error")

// Serve reads requests from in and writes replies to out until in ends,
// then waits for the requests in flight and returns nil. Frames it cannot
// use are logged and skipped, and answered with an error if their tag can be
// read. It returns early with the context's cause when ctx ends, at once
// with an error wrapping ErrCorrupt when in is corrupt, and with an error
// when reading in fails other than by ending, or writing out fails.
//
// Serve owns out until it returns. A read from in, or a write to out, that
// is blocked when ctx ends keeps one goroutine alive until it returns: the
// caller can close in and out to release it.
func (s *Server) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	if s.Backend == nil {
		return errors.New("port: no backend")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ss := &session{
		b:       s.Backend,
		log:     s.Log,
		version: s.Version,
		timeout: s.Timeout,
		replies: make(chan []byte, 64),
	}
	if ss.log == nil {
		ss.log = slog.New(slog.DiscardHandler)
	}
	if ss.version == "" {
		ss.version = buildVersion()
	}
	if ss.timeout <= 0 {
		ss.timeout = DefaultTimeout
	}
	n := s.MaxInFlight
	if n <= 0 {
		n = DefaultMaxInFlight
	}
	ss.slots = make(chan struct{}, n)
	ss.waiting = make(chan struct{}, maxWaiting)

	frames := make(chan frame)
	go ss.read(ctx, in, frames)
	written := make(chan error, 1)
	go func() { written <- ss.write(ctx, cancel, out) }()

	pushes := s.Pushes
	var err error
	for err == nil {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case f := <-frames:
			err = ss.take(ctx, f)
		case p, ok := <-pushes:
			if !ok {
				pushes = nil
				continue
			}
			ss.push(ctx, p)
		}
	}
	if err == io.EOF {
		err = nil
	} else if errors.Is(err, ErrCorrupt) {
		// At once: nothing more can be read, and the owner is waiting
		// for a helper that can.
		return err
	}

	// Input is over: let the requests in flight answer, then the writer
	// flush, unless ctx ends first.
	drained := make(chan struct{})
	go func() { ss.inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	close(ss.replies)
	select {
	case werr := <-written:
		return errors.Join(err, werr)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// session is the state of one Serve call.
type session struct {
	b       Backend
	log     *slog.Logger
	version string
	timeout time.Duration

	slots    chan struct{}  // one token per running Backend call
	waiting  chan struct{}  // one token per request between read and reply
	replies  chan []byte    // reply bodies for the writer; closed after inflight
	inflight sync.WaitGroup // request goroutines
}

// frame is one result of wire.ReadFrame.
type frame struct {
	body []byte
	err  error
}

// read passes frames from in to Serve until in ends or fails. It runs apart
// from Serve so that Serve can return when ctx ends, even while a read is
// blocked.
func (ss *session) read(ctx context.Context, in io.Reader, frames chan<- frame) {
	br := bufio.NewReader(in)
	for {
		body, err := wire.ReadFrame(br)
		select {
		case frames <- frame{body, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// take handles one frame, and returns io.EOF or an error when the input is
// over.
func (ss *session) take(ctx context.Context, f frame) error {
	switch {
	case f.err == nil:
		ss.dispatch(ctx, f.body)
		return nil
	case errors.Is(f.err, wire.ErrFrameTooLarge):
		// No frame after it can be found: the caller exits, and the
		// port owner starts a helper on a fresh stream (doc.go).
		return fmt.Errorf("%w: %w", ErrCorrupt, f.err)
	case f.err == io.EOF:
		return io.EOF
	case f.err == io.ErrUnexpectedEOF:
		// The port owner closed the port mid-frame: the end of input all
		// the same, and nothing to answer.
		ss.log.Warn("input ended inside a frame")
		return io.EOF
	default:
		return fmt.Errorf("read request: %w", f.err)
	}
}

// dispatch decodes a request and answers it, or starts a goroutine to. It
// runs on Serve's goroutine, so it never waits for the Backend: pings and
// answers from memory go out here, everything else in a goroutine. It
// blocks only for room in the reply queue, and when maxWaiting requests are
// waiting.
func (ss *session) dispatch(ctx context.Context, body []byte) {
	deadline := time.Now().Add(ss.timeout)
	req, err := decode(body)
	switch {
	case errors.Is(err, wire.ErrUnreadableTag):
		ss.log.Warn("skipping request with unreadable tag", "bytes", len(body), "err", err)
		return
	case err != nil:
		ss.log.Warn("bad request", "tag", req.Tag, "err", err)
		ss.sendError(ctx, req.Tag, err)
		return
	case req.Cmd == wire.Ping:
		// Answered in line: no lookup, and it must work even when every
		// slot is taken, since it is how the port owner checks liveness.
		b, err := wire.PongReply(req.Tag, ss.version)
		if err != nil {
			ss.log.Error("encode pong", "tag", req.Tag, "err", err)
			return
		}
		ss.send(ctx, b)
		return
	case req.Cmd == wire.Resolve:
		if b, ok := ss.peek(req); ok {
			ss.send(ctx, b)
			return
		}
	}

	// Back-pressure only at maxWaiting requests: reading then waits for
	// one of them to be answered.
	select {
	case ss.waiting <- struct{}{}:
	case <-ctx.Done():
		return
	}
	ss.inflight.Add(1)
	go ss.handle(ctx, req, deadline)
}

// maxWaiting bounds the requests between being read and being answered
// (waiting for a slot, or in the Backend). Far above what the port owner
// sends at once; it only bounds memory when the Backend hangs.
const maxWaiting = 16384

// peek answers a resolve from the Backend's memory, if it can. A panic is
// a bug, and leaves the request to handle.
func (ss *session) peek(req wire.Request) (b []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			ss.log.Error("panic peeking", "tag", req.Tag, "host", req.Host, "panic", r, "stack", string(debug.Stack()))
			b, ok = nil, false
		}
	}()
	e, answered, err := ss.b.Peek(req.Host, req.Family)
	if !answered {
		return nil, false
	}
	if err == nil {
		e.Addr, err = matchFamily(e.Addr, req.Family)
	}
	if err == nil {
		b, err = wire.EndpointReply(req.Tag, e)
	} else {
		b, err = wire.ErrorReply(req.Tag, err)
	}
	if err != nil {
		ss.log.Error("encode reply", "tag", req.Tag, "err", err)
		return nil, false
	}
	return b, true
}

// decode is wire.DecodeRequest, made safe against a panic on any input.
func decode(body []byte) (req wire.Request, err error) {
	defer func() {
		if r := recover(); r != nil {
			req, err = wire.Request{}, fmt.Errorf("%w: panic decoding: %v", wire.ErrUnreadableTag, r)
		}
	}()
	return wire.DecodeRequest(body)
}

// handle answers a request that needs the Backend, by its deadline: it
// waits for a slot, and holds it until the Backend returns, even when that
// is after the deadline, so that a Backend that ignores its context cannot
// start an unbounded number of calls.
func (ss *session) handle(ctx context.Context, req wire.Request, deadline time.Time) {
	defer ss.inflight.Done()
	defer func() { <-ss.waiting }()
	wait := time.NewTimer(time.Until(deadline))
	select {
	case ss.slots <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		ss.log.Warn("no free slot before the deadline", "tag", req.Tag, "cmd", req.Cmd, "in_flight", cap(ss.slots))
		ss.sendError(ctx, req.Tag, context.DeadlineExceeded)
		return
	case <-ctx.Done():
		wait.Stop()
		return
	}
	defer func() { <-ss.slots }()
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var once sync.Once
	reply := func(b []byte) { once.Do(func() { ss.send(ctx, b) }) }
	late := time.AfterFunc(time.Until(deadline), func() {
		b, err := wire.ErrorReply(req.Tag, context.DeadlineExceeded)
		if err == nil {
			reply(b)
		}
	})
	defer late.Stop()
	defer func() {
		if r := recover(); r != nil {
			ss.log.Error("panic serving request", "tag", req.Tag, "cmd", req.Cmd, "panic", r, "stack", string(debug.Stack()))
			if b, err := wire.ErrorReply(req.Tag, errPanic); err == nil {
				reply(b)
			}
		}
	}()

	start := time.Now()
	b, err := ss.answer(rctx, req)
	log := ss.log.With("tag", req.Tag, "cmd", req.Cmd, "host", req.Host, "took", time.Since(start))
	if err != nil {
		switch reason := wire.ReasonOf(err); reason {
		case wire.ReasonNotFound, wire.ReasonNoAddress, wire.ReasonAmbiguous:
			// Ordinary answers: the port owner asks about every host,
			// containers or not.
			log.Debug("request answered", "reason", reason, "err", err)
		default:
			log.Warn("request failed", "reason", reason, "err", err)
		}
		if b, err = wire.ErrorReply(req.Tag, err); err != nil {
			log.Error("encode error reply", "err", err)
			return
		}
	} else {
		log.Debug("request answered")
	}
	reply(b)
}

// answer calls the Backend and encodes its answer.
func (ss *session) answer(ctx context.Context, req wire.Request) ([]byte, error) {
	switch req.Cmd {
	case wire.Resolve:
		e, err := ss.b.Endpoint(ctx, req.Host, req.Family)
		if err != nil {
			return nil, err
		}
		if e.Addr, err = matchFamily(e.Addr, req.Family); err != nil {
			return nil, err
		}
		return wire.EndpointReply(req.Tag, e)
	case wire.List:
		cs, err := ss.b.List(ctx)
		if err != nil {
			return nil, err
		}
		return wire.ListReply(req.Tag, cs)
	case wire.Nodes:
		f, ok := ss.b.(NodeFinder)
		if !ok {
			return nil, fmt.Errorf("%w: this backend finds no nodes", wire.ErrBadRequest)
		}
		nodes, err := f.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		return wire.NodesReply(req.Tag, nodes)
	default:
		// DecodeRequest returns only known commands; this is a bug.
		return nil, fmt.Errorf("%w: command %v", wire.ErrBadRequest, req.Cmd)
	}
}

// matchFamily makes sure a resolved address is of the family asked for: the
// Erlang side hands it to gen_tcp of that family, which would fail far from
// the cause. An IPv4-mapped IPv6 address counts as IPv4.
func matchFamily(addr netip.Addr, fam wire.Family) (netip.Addr, error) {
	switch {
	case fam == wire.Inet && (addr.Is4() || addr.Is4In6()):
		return addr.Unmap(), nil
	case fam == wire.Inet6 && addr.Is6() && !addr.Is4In6():
		return addr, nil
	default:
		return netip.Addr{}, fmt.Errorf("%w: backend returned %v for %v", wire.ErrNoAddress, addr, fam)
	}
}

// sendError sends the error reply for err.
func (ss *session) sendError(ctx context.Context, tag uint32, err error) {
	b, eerr := wire.ErrorReply(tag, err)
	if eerr != nil {
		ss.log.Error("encode error reply", "tag", tag, "err", eerr)
		return
	}
	ss.send(ctx, b)
}

// push queues a push for the writer.
func (ss *session) push(ctx context.Context, p wire.Push) {
	b, err := p.Encode()
	if err != nil {
		ss.log.Error("encode push", "push", p, "err", err)
		return
	}
	ss.log.Debug("push", "push", p)
	ss.send(ctx, b)
}

// send queues a reply for the writer, or drops it once ctx has ended.
func (ss *session) send(ctx context.Context, b []byte) {
	select {
	case ss.replies <- b:
	case <-ctx.Done():
	}
}

// write owns out: it writes the queued replies, and flushes whenever the
// queue runs empty, so that a burst goes out in few writes and a lone reply
// without delay. A failed write ends the session through cancel.
func (ss *session) write(ctx context.Context, cancel context.CancelCauseFunc, out io.Writer) error {
	bw := bufio.NewWriterSize(out, 32<<10)
	for {
		select {
		case b, ok := <-ss.replies:
			if !ok {
				if err := bw.Flush(); err != nil {
					return ss.writeFailed(cancel, err)
				}
				return nil
			}
			if err := wire.WriteFrame(bw, b); err != nil {
				return ss.writeFailed(cancel, err)
			}
			if len(ss.replies) == 0 {
				if err := bw.Flush(); err != nil {
					return ss.writeFailed(cancel, err)
				}
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// writeFailed ends the session: replies can no longer reach the port owner.
func (ss *session) writeFailed(cancel context.CancelCauseFunc, err error) error {
	err = fmt.Errorf("write reply: %w", err)
	ss.log.Error("cannot write replies", "err", err)
	cancel(err)
	return err
}

// buildVersion is the main module's version, or "(devel)" when the build
// did not record one.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// EnvTimeout is the port owner's request timeout in milliseconds, which it
// passes to the helper (doc.go).
const EnvTimeout = "EPMD_DOCKER_TIMEOUT"

// maxTimeout is the port owner's own limit on EPMD_DOCKER_TIMEOUT.
const maxTimeout = 60 * time.Second

// TimeoutFromEnv returns the deadline for each request that
// EPMD_DOCKER_TIMEOUT implies: the owner's timeout less a margin, a quarter
// of it, so that {error, timeout} reaches the owner before it gives up on
// its own. Unset or empty is DefaultTimeout (for the owner's default, 2 s).
func TimeoutFromEnv() (time.Duration, error) {
	s := strings.TrimSpace(os.Getenv(EnvTimeout))
	if s == "" {
		return DefaultTimeout, nil
	}
	ms, err := strconv.ParseUint(s, 10, 32)
	if err != nil || ms == 0 || time.Duration(ms)*time.Millisecond > maxTimeout {
		return 0, fmt.Errorf("%s=%q: not a number of milliseconds from 1 to %d", EnvTimeout, s, maxTimeout.Milliseconds())
	}
	return Deadline(time.Duration(ms) * time.Millisecond), nil
}

// Deadline is the helper's deadline for a request the port owner gives up
// on after ownerTimeout: three quarters of it.
func Deadline(ownerTimeout time.Duration) time.Duration {
	return ownerTimeout - ownerTimeout/4
}
