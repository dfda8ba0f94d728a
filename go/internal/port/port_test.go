package port

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// fakeBackend answers from a fixed table. Real lookups are tested in the
// resolve and reach packages and end to end under test/.
type fakeBackend struct {
	hosts   map[string]answer
	list    []wire.Container
	listErr error
}

// answer is what fakeBackend does for one host.
type answer struct {
	addr      netip.Addr
	port      uint16 // dial addr:port directly
	err       error
	gate      chan struct{} // if set, wait for it to close before answering
	ignoreCtx bool          // wait for gate even after ctx ends
	panics    bool
	cached    bool // Peek answers it
}

func (f *fakeBackend) Endpoint(ctx context.Context, host string, _ wire.Family) (wire.Endpoint, error) {
	a, ok := f.hosts[host]
	if !ok {
		return wire.Endpoint{}, fmt.Errorf("resolve %s: %w", host, wire.ErrNotFound)
	}
	if a.gate != nil {
		if a.ignoreCtx {
			<-a.gate
		} else {
			select {
			case <-a.gate:
			case <-ctx.Done():
				return wire.Endpoint{}, fmt.Errorf("resolve %s: %w", host, ctx.Err())
			}
		}
	}
	if a.panics {
		panic("fake backend panics")
	}
	return wire.Endpoint{Addr: a.addr, Port: a.port}, a.err
}

func (f *fakeBackend) Peek(host string, _ wire.Family) (wire.Endpoint, bool, error) {
	a, ok := f.hosts[host]
	if !ok || !a.cached {
		return wire.Endpoint{}, false, nil
	}
	if a.panics {
		panic("fake backend panics")
	}
	return wire.Endpoint{Addr: a.addr, Port: a.port}, true, a.err
}

func (f *fakeBackend) List(context.Context) ([]wire.Container, error) {
	return f.list, f.listErr
}

// Bodies of requests, encoded as the port owner does.

func ping(tag uint32) []byte { return body(etf.Tuple{tag, etf.Atom("ping")}) }
func list(tag uint32) []byte { return body(etf.Tuple{tag, etf.Atom("list")}) }

func resolve(tag uint32, host string, fam string) []byte {
	return body(etf.Tuple{tag, etf.Tuple{etf.Atom("resolve"), []byte(host), etf.Atom(fam)}})
}

func body(term etf.Term) []byte {
	buf := &lib.Buffer{B: []byte{131}}
	if err := etf.Encode(term, buf, etf.EncodeOptions{}); err != nil {
		panic(err)
	}
	return buf.B
}

// framed returns b with its {packet,4} header.
func framed(b []byte) []byte {
	var out bytes.Buffer
	if err := wire.WriteFrame(&out, b); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// Expected replies.

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func pong(tag uint32) []byte { return must(wire.PongReply(tag, testVersion)) }

func errReply(tag uint32, err error) []byte { return must(wire.ErrorReply(tag, err)) }

func addrReply(tag uint32, addr string) []byte {
	return must(wire.EndpointReply(tag, wire.Endpoint{Addr: netip.MustParseAddr(addr)}))
}

// show renders a reply body as a term for failure messages.
func show(b []byte) string {
	if len(b) == 0 || b[0] != 131 {
		return fmt.Sprintf("%q", b)
	}
	term, _, err := etf.Decode(b[1:], nil, etf.DecodeOptions{})
	if err != nil {
		return fmt.Sprintf("%q (%v)", b, err)
	}
	return fmt.Sprintf("%v", term)
}

const testVersion = "1.2.3"

var (
	web4 = netip.MustParseAddr("172.17.0.2")
	web6 = netip.MustParseAddr("fd00::2")
)

// testLog is a logger whose output a test can inspect.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *testLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// harness runs Serve over pipes, as the port owner would drive it.
type harness struct {
	t       *testing.T
	in      *io.PipeWriter
	replies chan []byte // reply bodies, closed when out ends
	done    chan error  // Serve's result
	log     *testLog
}

func start(t *testing.T, ctx context.Context, s *Server) *harness {
	t.Helper()
	h := &harness{t: t, replies: make(chan []byte, 100), done: make(chan error, 1), log: &testLog{}}
	if s.Log == nil {
		s.Log = h.log.logger()
	}
	if s.Version == "" {
		s.Version = testVersion
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h.in = inW
	go func() {
		err := s.Serve(ctx, inR, outW)
		outW.Close()
		h.done <- err
	}()
	go func() {
		defer close(h.replies)
		for {
			b, err := wire.ReadFrame(outR)
			if err != nil {
				return
			}
			h.replies <- b
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", h.log)
		}
	})
	return h
}

// send writes request bodies as frames.
func (h *harness) send(bodies ...[]byte) {
	h.t.Helper()
	for _, b := range bodies {
		if _, err := h.in.Write(framed(b)); err != nil {
			h.t.Fatalf("write request: %v", err)
		}
	}
}

// expect receives the next reply and compares it with want.
func (h *harness) expect(want []byte) {
	h.t.Helper()
	got, ok := <-h.replies
	if !ok {
		h.t.Fatalf("output ended, want reply %s", show(want))
	}
	if !bytes.Equal(got, want) {
		h.t.Fatalf("got reply %s, want %s", show(got), show(want))
	}
}

// expectAnyOrder receives len(want) replies and compares them with want,
// in whatever order they come.
func (h *harness) expectAnyOrder(want ...[]byte) {
	h.t.Helper()
	pending := map[string]int{}
	for _, w := range want {
		pending[string(w)]++
	}
	for range want {
		got, ok := <-h.replies
		if !ok {
			h.t.Fatalf("output ended, want %d more replies", len(pending))
		}
		if pending[string(got)] == 0 {
			h.t.Fatalf("got reply %s, want one of %s", show(got), showAll(want))
		}
		pending[string(got)]--
	}
}

func showAll(bs [][]byte) string {
	var s []string
	for _, b := range bs {
		s = append(s, show(b))
	}
	return strings.Join(s, ", ")
}

// expectNone checks, once everything in the bubble is blocked, that no reply
// is waiting.
func (h *harness) expectNone() {
	h.t.Helper()
	synctest.Wait()
	select {
	case got, ok := <-h.replies:
		if ok {
			h.t.Fatalf("got reply %s, want none yet", show(got))
		}
	default:
	}
}

// finish closes the input and returns Serve's result, failing on replies
// nobody expected.
func (h *harness) finish() error {
	h.t.Helper()
	h.in.Close()
	for got := range h.replies {
		h.t.Errorf("unexpected reply %s", show(got))
	}
	return <-h.done
}

func TestServeAnswers(t *testing.T) {
	r := &fakeBackend{
		hosts: map[string]answer{
			"web":      {addr: web4},
			"web6":     {addr: web6},
			"mapped":   {addr: netip.MustParseAddr("::ffff:10.0.0.1")},
			"nil-nil":  {},
			"twice":    {err: &wire.AmbiguousError{Host: "twice", Candidates: []string{"a (1)", "b (2)"}}},
			"noaddr":   {err: fmt.Errorf("twice: %w", wire.ErrNoAddress)},
			"down":     {err: fmt.Errorf("dial: %w", wire.ErrUnavailable)},
			"slow":     {err: fmt.Errorf("inspect: %w", context.DeadlineExceeded)},
			"weird":    {err: errors.New("something nobody classified")},
			"boom":     {panics: true},
			"pub":      {addr: netip.MustParseAddr("127.0.0.1"), port: 32768},
			"pub6":     {addr: netip.MustParseAddr("::1"), port: 9100},
			"bare":     {err: fmt.Errorf("container bare: %w", wire.ErrNotPublished)},
			"hit":      {addr: web4, cached: true},
			"hit6":     {addr: web6, cached: true},
			"nothit":   {err: fmt.Errorf("hit: %w", wire.ErrNotFound), cached: true},
			"peekboom": {addr: web4, cached: true, panics: true},
		},
		list: []wire.Container{
			{ID: "3f2a9c1b0d4e", Name: "web", Hostname: "3f2a9c1b0d4e", Addr: web4},
			{ID: "0123456789ab", Name: "stopped", Hostname: "stopped"},
		},
	}
	tests := []struct {
		name string
		req  []byte
		want []byte
	}{
		{"ping", ping(1), pong(1)},
		{"ping tag 2^32-1", ping(1<<32 - 1), pong(1<<32 - 1)},
		{"resolve inet", resolve(2, "web", "inet"), addrReply(2, "172.17.0.2")},
		{"resolve inet6", resolve(3, "web6", "inet6"), addrReply(3, "fd00::2")},
		{"resolve inet gets ipv6", resolve(4, "web6", "inet"), errReply(4, wire.ErrNoAddress)},
		{"resolve inet6 gets ipv4", resolve(4, "web", "inet6"), errReply(4, wire.ErrNoAddress)},
		{"resolve inet gets mapped ipv4", resolve(5, "mapped", "inet"), addrReply(5, "10.0.0.1")},
		{"resolver returns neither", resolve(5, "nil-nil", "inet"), errReply(5, wire.ErrNoAddress)},
		{"not found", resolve(6, "nosuch", "inet"), errReply(6, wire.ErrNotFound)},
		{"ambiguous", resolve(7, "twice", "inet"), errReply(7, &wire.AmbiguousError{Candidates: []string{"a (1)", "b (2)"}})},
		{"no address", resolve(8, "noaddr", "inet"), errReply(8, wire.ErrNoAddress)},
		{"docker unavailable", resolve(9, "down", "inet"), errReply(9, wire.ErrUnavailable)},
		{"docker timeout", resolve(10, "slow", "inet"), errReply(10, context.DeadlineExceeded)},
		{"unclassified error", resolve(11, "weird", "inet"), errReply(11, wire.ErrUnavailable)},
		{"resolver panics", resolve(12, "boom", "inet"), errReply(12, wire.ErrUnavailable)},
		{"list", list(13), must(wire.ListReply(13, r.list))},
		// {17, {ok, {127,0,0,1}, 32768}}: as term_to_binary/1 writes it, but
		// for the atom ok in SMALL_ATOM_UTF8_EXT (119) where erl writes
		// ATOM_EXT (100, 0, 2); binary_to_term/2 reads both.
		{"published port", resolve(17, "pub", "inet"), []byte{131, 104, 2, 97, 17, 104, 3, 119, 2, 111, 107, 104, 4, 97, 127, 97, 0, 97, 0, 97, 1, 98, 0, 0, 128, 0}},
		{"published, wrong family", resolve(18, "pub6", "inet"), errReply(18, wire.ErrNoAddress)},
		{"not published", resolve(19, "bare", "inet"), errReply(19, wire.ErrNotPublished)},
		{"from memory", resolve(20, "hit", "inet"), addrReply(20, "172.17.0.2")},
		{"from memory, wrong family", resolve(21, "hit6", "inet"), errReply(21, wire.ErrNoAddress)},
		{"from memory, not found", resolve(22, "nothit", "inet"), errReply(22, wire.ErrNotFound)},
		{"peek panics", resolve(23, "peekboom", "inet"), errReply(23, wire.ErrUnavailable)},
		{"charlist host", body(etf.Tuple{uint32(14), etf.Tuple{etf.Atom("resolve"), "web", etf.Atom("inet")}}), addrReply(14, "172.17.0.2")},
		{"bad host", resolve(15, "$(rm -rf /);", "inet"), errReply(15, wire.ErrBadHost)},
		{"unknown command", body(etf.Tuple{uint32(16), etf.Atom("foo")}), errReply(16, wire.ErrBadRequest)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(t, t.Context(), &Server{Backend: r})
				h.send(tc.req)
				h.expect(tc.want)
				// The server is still alive.
				h.send(ping(99))
				h.expect(pong(99))
				if err := h.finish(); err != nil {
					t.Fatalf("Serve: got %v, want nil", err)
				}
			})
		})
	}
}

func TestServeListError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeBackend{listErr: fmt.Errorf("list: %w", wire.ErrUnavailable)}
		h := start(t, t.Context(), &Server{Backend: r})
		h.send(list(1))
		h.expect(errReply(1, wire.ErrUnavailable))
		if err := h.finish(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
	})
}

// TestServeOutOfOrder: a slow lookup does not hold up a fast one behind it.
func TestServeOutOfOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		r := &fakeBackend{hosts: map[string]answer{
			"a": {addr: web4, gate: gate},
			"b": {addr: web6},
		}}
		h := start(t, t.Context(), &Server{Backend: r})
		h.send(resolve(1, "a", "inet"), resolve(2, "b", "inet6"), ping(3))
		h.expectAnyOrder(addrReply(2, "fd00::2"), pong(3))
		h.expectNone()
		close(gate)
		h.expect(addrReply(1, "172.17.0.2"))
		if err := h.finish(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
	})
}

// TestServeDeadline: a request is answered by its deadline even when the
// Resolver ignores its context, and the slot it holds is freed only when the
// Resolver returns.
func TestServeDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		r := &fakeBackend{hosts: map[string]answer{
			"stuck":  {addr: web4, gate: gate, ignoreCtx: true},
			"polite": {addr: web4, gate: gate},
		}}
		h := start(t, t.Context(), &Server{Backend: r, Timeout: time.Second})
		t0 := time.Now()
		h.send(resolve(1, "stuck", "inet"), resolve(2, "polite", "inet"))
		h.expectNone()
		time.Sleep(time.Second - time.Millisecond)
		h.expectNone()
		time.Sleep(time.Millisecond)
		h.expectAnyOrder(errReply(1, context.DeadlineExceeded), errReply(2, context.DeadlineExceeded))
		if took := time.Since(t0); took != time.Second {
			t.Errorf("answered after %v, want 1s", took)
		}
		// The late answer of the stuck lookup is dropped: one reply per tag.
		close(gate)
		h.expectNone()
		if err := h.finish(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
	})
}

// TestServeMaxInFlight: with every slot held and a lookup waiting for
// one, a ping and an answer from memory sent after it are answered at once
// (no head-of-line blocking), and the waiting lookup is answered with
// timeout at its deadline, counted from when it was read.
func TestServeMaxInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		r := &fakeBackend{hosts: map[string]answer{
			"stuck": {addr: web4, gate: gate, ignoreCtx: true},
			"web":   {addr: web4},
			"hit":   {addr: web6, cached: true},
		}}
		h := start(t, t.Context(), &Server{Backend: r, Timeout: time.Second, MaxInFlight: 2})
		t0 := time.Now()
		h.send(resolve(1, "stuck", "inet"), resolve(2, "stuck", "inet"))
		synctest.Wait()
		h.send(resolve(4, "web", "inet"), ping(3), resolve(5, "hit", "inet6"))
		h.expect(pong(3))
		h.expect(addrReply(5, "fd00::2"))
		if took := time.Since(t0); took != 0 {
			t.Errorf("ping and hit answered after %v, want at once", took)
		}
		h.expectNone()
		time.Sleep(time.Second)
		timeout := context.DeadlineExceeded
		h.expectAnyOrder(errReply(1, timeout), errReply(2, timeout), errReply(4, timeout))
		close(gate)
		synctest.Wait()
		// The slots are free again.
		h.send(resolve(6, "web", "inet"))
		h.expect(addrReply(6, "172.17.0.2"))
		if err := h.finish(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
	})
}

// TestServePushes: pushes go out in order, through the one writer, between
// the replies.
func TestServePushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pushes := make(chan wire.Push)
		r := &fakeBackend{hosts: map[string]answer{"hit": {addr: web4, cached: true}}}
		h := start(t, t.Context(), &Server{Backend: r, Pushes: pushes})
		h.send(ping(1))
		h.expect(pong(1))
		pushes <- wire.StreamUp()
		pushes <- wire.Invalidate([]string{"web", "db"})
		pushes <- wire.InvalidateAll()
		h.send(resolve(2, "hit", "inet"))
		synctest.Wait()
		pushes <- wire.StreamDown()
		h.expect(must(wire.StreamUp().Encode()))
		h.expect(must(wire.Invalidate([]string{"web", "db"}).Encode()))
		h.expect(must(wire.InvalidateAll().Encode()))
		h.expect(addrReply(2, "172.17.0.2"))
		h.expect(must(wire.StreamDown().Encode()))
		close(pushes)
		h.send(ping(3))
		h.expect(pong(3))
		if err := h.finish(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
	})
}

// zeros reads as an endless stream, without touching the buffer.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { return len(p), nil }

// TestServeHostileInput feeds garbage, each piece followed by a ping that
// must be answered; then the input ends and Serve must return nil. A
// {packet,4} stream cannot recover from a length prefix that overstates its
// frame, so truncation is tested on terms (every prefix of a request, each in
// a frame of its own) and, in TestServeTruncatedAtEnd, at the end of input;
// an oversized prefix in TestServeCorrupt.
func TestServeHostileInput(t *testing.T) {
	resolveABC := resolve(7, "abc", "inet")
	type piece struct {
		name  string
		in    io.Reader
		want  [][]byte // replies before the ping's
		warns int      // log lines at level WARN
	}
	pieces := []piece{
		{"empty frame", bytes.NewReader(framed(nil)), nil, 1},
		{"not ETF", bytes.NewReader(framed([]byte("GET / HTTP/1.1\r\n\r\n"))), nil, 1},
		{"iiiii0", bytes.NewReader(framed([]byte("iiiii0"))), nil, 1},
		{"iiiii0 with version byte", bytes.NewReader(framed([]byte("\x83iiiii0"))), nil, 1},
		{"iiiii0 as command", bytes.NewReader(framed([]byte("\x83h\x02a\x07iiiii0"))), [][]byte{errReply(7, wire.ErrBadRequest)}, 1},
		{"binary length 0xFFFFFFFC", bytes.NewReader(framed([]byte("\x83h\x02a\x07m\xff\xff\xff\xfc"))), [][]byte{errReply(7, wire.ErrBadRequest)}, 1},
		{"unknown command", bytes.NewReader(framed(body(etf.Tuple{uint32(8), etf.Atom("rm_rf")}))), [][]byte{errReply(8, wire.ErrBadRequest)}, 1},
		{"unknown family", bytes.NewReader(framed(resolve(8, "web", "inet4"))), [][]byte{errReply(8, wire.ErrBadRequest)}, 1},
		{"negative tag", bytes.NewReader(framed(body(etf.Tuple{-1, etf.Atom("ping")}))), nil, 1},
		{"4 KB host", bytes.NewReader(framed(resolve(9, strings.Repeat("a", 4096), "inet"))), [][]byte{errReply(9, wire.ErrBadHost)}, 1},
		{"host with NUL", bytes.NewReader(framed(resolve(10, "we\x00b", "inet"))), [][]byte{errReply(10, wire.ErrBadHost)}, 1},
		{"host not UTF-8", bytes.NewReader(framed(resolve(11, "we\xffb", "inet"))), [][]byte{errReply(11, wire.ErrBadHost)}, 1},
		{"shell metacharacters", bytes.NewReader(framed(resolve(12, "$(rm -rf /);", "inet"))), [][]byte{errReply(12, wire.ErrBadHost)}, 1},
		{"empty host", bytes.NewReader(framed(resolve(13, "", "inet"))), [][]byte{errReply(13, wire.ErrBadHost)}, 1},
	}
	for n := range len(resolveABC) {
		p := piece{name: fmt.Sprintf("request cut to %d bytes", n), in: bytes.NewReader(framed(resolveABC[:n])), warns: 1}
		// 131, SMALL_TUPLE_EXT, 2, SMALL_INTEGER_EXT, 7: the tag is readable.
		if n >= 5 {
			p.want = [][]byte{errReply(7, wire.ErrBadRequest)}
		}
		pieces = append(pieces, p)
	}

	synctest.Test(t, func(t *testing.T) {
		var ins []io.Reader
		var want [][]byte
		warns := 0
		for i, p := range pieces {
			tag := uint32(1000 + i)
			ins = append(ins, p.in, bytes.NewReader(framed(ping(tag))))
			want = append(want, p.want...)
			want = append(want, pong(tag))
			warns += p.warns
		}
		var out bytes.Buffer
		var log testLog
		s := &Server{Backend: &fakeBackend{}, Log: log.logger(), Version: testVersion}
		if err := s.Serve(t.Context(), io.MultiReader(ins...), &out); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
		for i, w := range want {
			got, err := wire.ReadFrame(&out)
			if err != nil {
				t.Fatalf("reply %d: got %v, want %s", i, err, show(w))
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("reply %d: got %s, want %s", i, show(got), show(w))
			}
		}
		if out.Len() != 0 {
			t.Errorf("%d bytes of output after the expected replies", out.Len())
		}
		if got := strings.Count(log.String(), "level=WARN"); got != warns {
			t.Errorf("got %d warnings, want one per bad piece, %d:\n%s", got, warns, log.String())
		}
		if strings.Contains(log.String(), "level=ERROR") {
			t.Errorf("errors logged:\n%s", log.String())
		}
	})
}

// TestServeCorrupt: a length prefix over wire.MaxFrame ends Serve at once
// with ErrCorrupt, without reading the body it declares (endless here).
func TestServeCorrupt(t *testing.T) {
	for _, prefix := range [][]byte{{0xff, 0xff, 0xff, 0xff}, {0, 1, 0, 1}} {
		synctest.Test(t, func(t *testing.T) {
			in := io.MultiReader(bytes.NewReader(framed(ping(1))), bytes.NewReader(prefix), zeros{})
			var out bytes.Buffer
			var log testLog
			s := &Server{Backend: &fakeBackend{}, Version: testVersion, Log: log.logger()}
			err := s.Serve(t.Context(), in, &out)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, wire.ErrFrameTooLarge) {
				t.Fatalf("prefix %x: Serve: got %v, want ErrCorrupt", prefix, err)
			}
		})
	}
}

func TestServeTruncatedAtEnd(t *testing.T) {
	full := framed(resolve(7, "abc", "inet"))
	for n := range len(full) {
		synctest.Test(t, func(t *testing.T) {
			in := io.MultiReader(bytes.NewReader(framed(ping(1))), bytes.NewReader(full[:n]))
			var out bytes.Buffer
			s := &Server{Backend: &fakeBackend{}, Version: testVersion}
			if err := s.Serve(t.Context(), in, &out); err != nil {
				t.Fatalf("cut at %d: Serve: got %v, want nil", n, err)
			}
			if got, want := out.Bytes(), framed(pong(1)); !bytes.Equal(got, want) {
				t.Fatalf("cut at %d: got output %q, want %q", n, got, want)
			}
		})
	}
}

// TestServeEOFWaits: when input ends, Serve answers the requests in flight
// before it returns.
func TestServeEOFWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		r := &fakeBackend{hosts: map[string]answer{"a": {addr: web4, gate: gate}}}
		h := start(t, t.Context(), &Server{Backend: r})
		h.send(resolve(1, "a", "inet"))
		h.in.Close()
		synctest.Wait()
		select {
		case err := <-h.done:
			t.Fatalf("Serve returned %v with a request in flight", err)
		default:
		}
		close(gate)
		h.expect(addrReply(1, "172.17.0.2"))
		if err := h.finish(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
	})
}

func TestServeEmptyInput(t *testing.T) {
	var out bytes.Buffer
	if err := Serve(t.Context(), strings.NewReader(""), &out, &fakeBackend{}, nil); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if out.Len() != 0 {
		t.Errorf("got output %q, want none", out.Bytes())
	}
}

// TestServeCancel: Serve returns when its context ends, although the input
// is still open and a lookup ignores the context.
func TestServeCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		r := &fakeBackend{hosts: map[string]answer{"stuck": {addr: web4, gate: gate, ignoreCtx: true}}}
		ctx, cancel := context.WithCancel(t.Context())
		h := start(t, ctx, &Server{Backend: r})
		h.send(resolve(1, "stuck", "inet"), ping(2))
		h.expect(pong(2))
		cancel()
		if err := <-h.done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve: got %v, want context.Canceled", err)
		}
		// Release what the caller is expected to release.
		close(gate)
		h.in.Close()
		for got := range h.replies {
			t.Errorf("reply after cancel: %s", show(got))
		}
	})
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestServeWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("broken pipe")
		inR, inW := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- (&Server{Backend: &fakeBackend{}}).Serve(t.Context(), inR, failWriter{boom})
		}()
		if _, err := inW.Write(framed(ping(1))); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, boom) {
			t.Fatalf("Serve: got %v, want %v", err, boom)
		}
		inW.Close()
	})
}

func TestServeReadError(t *testing.T) {
	boom := errors.New("read failed")
	in := io.MultiReader(bytes.NewReader(framed(ping(1))), errReader{boom})
	var out bytes.Buffer
	err := Serve(t.Context(), in, &out, &fakeBackend{}, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want %v", err, boom)
	}
	got, rerr := wire.ReadFrame(&out)
	if rerr != nil || !bytes.Equal(got, must(wire.PongReply(1, buildVersion()))) {
		t.Errorf("reply before the error: got %s, %v; want the pong", show(got), rerr)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestServeNoResolver(t *testing.T) {
	if err := Serve(t.Context(), strings.NewReader(""), io.Discard, nil, nil); err == nil {
		t.Fatal("got nil, want an error")
	}
}

// TestServeNoLeak runs a session outside a synctest bubble, which checks
// leaks by itself, and counts goroutines.
func TestServeNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	gate := make(chan struct{})
	r := &fakeBackend{hosts: map[string]answer{"a": {addr: web4, gate: gate}, "b": {addr: web4}}}
	h := start(t, t.Context(), &Server{Backend: r, Timeout: 5 * time.Second})
	h.send(resolve(1, "a", "inet"), resolve(2, "b", "inet"), ping(3), []byte("garbage"))
	h.expectAnyOrder(addrReply(2, "172.17.0.2"), pong(3))
	close(gate)
	h.expect(addrReply(1, "172.17.0.2"))
	if err := h.finish(); err != nil {
		t.Fatalf("Serve: got %v, want nil", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
