package e2e

// Hostile input to the real helper binary, driven directly through its
// port protocol: garbled, truncated, oversized and malformed frames.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"
)

// The real helper binary, driven through its stdin and stdout as the port
// owner drives it, with everything a port owner should never send: each
// piece gets an error reply or is skipped, the ping after it is answered,
// a real lookup works at the end, a 4 GiB length prefix is not allocated,
// and the helper exits cleanly when its input ends.
func TestHelperBinaryHostileInput(t *testing.T) {
	c := runSleeper(t)
	hostname := docker(t, "inspect", "-f", "{{.Config.Hostname}}", c)
	ip := strings.TrimSpace(containerIP(t, c))
	h := startHelperBinary(t)

	resolveABC := etfRequest(7, etf.Tuple{etf.Atom("resolve"), []byte("abc"), etf.Atom("inet")})
	nested := append([]byte("\x83h\x02a\x09"), bytes.Repeat([]byte("h\x01"), 10000)...)
	nested = append(nested, 'j')
	type piece struct {
		name string
		in   []byte // written as is: frames, or not
		want []string
	}
	pieces := []piece{
		{"iiiii0 (out of memory in a naive decoder)", frame([]byte("iiiii0")), nil},
		{"iiiii0 with version byte", frame([]byte("\x83iiiii0")), nil},
		{"iiiii0 as command", frame([]byte("\x83h\x02a\x07iiiii0")), []string{"{7,{error,bad_request}}"}},
		{"binary length 0xFFFFFFFC", frame([]byte("\x83h\x02a\x07m\xff\xff\xff\xfc")), []string{"{7,{error,bad_request}}"}},
		{"not ETF", frame([]byte("GET / HTTP/1.1\r\n\r\n")), nil},
		{"empty frame", frame(nil), nil},
		{"compressed term of 4 GiB", frame([]byte("\x83P\xff\xff\xff\xffx\x9c\x03\x00\x00\x00\x00\x01")), nil},
		{"nested 10000 deep", frame(nested), []string{"{9,{error,bad_request}}"}},
		{"unknown command", frame(etfRequest(8, etf.Atom("rm_rf"))), []string{"{8,{error,bad_request}}"}},
		{"unknown family", frame(etfRequest(8, etf.Tuple{etf.Atom("resolve"), []byte("web"), etf.Atom("inet4")})), []string{"{8,{error,bad_request}}"}},
		{"resolve with 4 elements", frame(etfRequest(8, etf.Tuple{etf.Atom("resolve"), []byte("web"), etf.Atom("inet"), 1})), []string{"{8,{error,bad_request}}"}},
		{"negative tag", frame(etfRequest(-1, etf.Atom("ping"))), nil},
		{"tag 2^32", frame(etfRequest(int64(1)<<32, etf.Atom("ping"))), nil},
		{"atom tag", frame(etfRequest(etf.Atom("x"), etf.Atom("ping"))), nil},
	}
	for i, host := range []string{
		strings.Repeat("a", 4096), "", "we\x00b", "we\xffb", "$(rm -rf /);", "`reboot`", "a b",
		"../../containers/json", "web%2F..", "web\r\nHost: evil", "-web", "é",
	} {
		tag := 100 + i
		pieces = append(pieces, piece{fmt.Sprintf("host %.40q", host),
			frame(etfRequest(tag, etf.Tuple{etf.Atom("resolve"), []byte(host), etf.Atom("inet")})),
			[]string{fmt.Sprintf("{%d,{error,bad_host}}", tag)}})
	}
	for n := range len(resolveABC) {
		p := piece{name: fmt.Sprintf("request cut to %d bytes", n), in: frame(resolveABC[:n])}
		if n >= 5 { // version, SMALL_TUPLE_EXT, arity, SMALL_INTEGER_EXT, tag
			p.want = []string{"{7,{error,bad_request}}"}
		}
		pieces = append(pieces, p)
	}

	for i, p := range pieces {
		tag := 1000 + i
		h.write(p.in)
		h.write(frame(etfRequest(tag, etf.Atom("ping"))))
		got := h.repliesUntilPong(tag)
		if strings.Join(got, " ") != strings.Join(p.want, " ") {
			t.Errorf("%s: got replies %v, want %v", p.name, got, p.want)
		}
	}
	h.write(frame(etfRequest(42, etf.Tuple{etf.Atom("resolve"), []byte(hostname), etf.Atom("inet")})))
	if got, want := h.reply(), fmt.Sprintf("{42,{ok,%s}}", erlIP(ip)); got != want {
		t.Errorf("resolve(%s) after the hostile input: got %s, want %s", hostname, got, want)
	}

	// Last, since the stream cannot recover from it: a prefix of 4 GiB.
	// The helper exits at once with status 65 (corrupt input), reading
	// nothing of the body.
	h.write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	code := h.close()
	if code != 65 {
		t.Errorf("helper exited with %d after a 4 GiB length prefix, want 65\nstderr:\n%s", code, h.stderr.String())
	}
	if strings.Contains(h.stderr.String(), "panic") {
		t.Errorf("helper panicked:\n%s", h.stderr.String())
	}
}

// helperBinary is priv/epmd-docker in port mode.
type helperBinary struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	frames  chan []byte
	stderr  *lockedBuffer
	waitErr chan error
}

func startHelperBinary(t *testing.T) *helperBinary {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "priv", "epmd-docker"), "port")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	h := &helperBinary{t: t, cmd: cmd, stdin: stdin, frames: make(chan []byte, 64), stderr: &lockedBuffer{}, waitErr: make(chan error, 1)}
	cmd.Stderr = h.stderr
	must(t, cmd.Start())
	go func() {
		defer close(h.frames)
		for {
			var hdr [4]byte
			if _, err := io.ReadFull(stdout, hdr[:]); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(stdout, body); err != nil {
				return
			}
			h.frames <- body
		}
	}()
	go func() { h.waitErr <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return h
}

func (h *helperBinary) write(b []byte) {
	h.t.Helper()
	if _, err := h.stdin.Write(b); err != nil {
		h.t.Fatalf("writing to the helper: %v\nstderr:\n%s", err, h.stderr.String())
	}
}

// reply is the next reply, printed as Erlang would. Pushes ({push, _},
// protocol 2), which come whenever Docker's events say so, are skipped.
func (h *helperBinary) reply() string {
	h.t.Helper()
	for {
		if r := h.frame(); !strings.HasPrefix(r, "{push,") {
			return r
		}
	}
}

// frame is the next frame, printed as Erlang would.
func (h *helperBinary) frame() string {
	h.t.Helper()
	select {
	case b, ok := <-h.frames:
		if !ok {
			h.t.Fatalf("helper output ended\nstderr:\n%s", h.stderr.String())
		}
		if len(b) == 0 || b[0] != 131 {
			h.t.Fatalf("reply without version byte: %q", b)
		}
		term, _, err := etf.Decode(b[1:], nil, etf.DecodeOptions{})
		if err != nil {
			h.t.Fatalf("undecodable reply %q: %v", b, err)
		}
		return showTerm(term)
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no reply within 10 s\nstderr:\n%s", h.stderr.String())
		return ""
	}
}

// repliesUntilPong returns the replies before the pong for tag.
func (h *helperBinary) repliesUntilPong(tag int) []string {
	h.t.Helper()
	var got []string
	pong := fmt.Sprintf("{%d,{pong,", tag)
	for {
		r := h.reply()
		if strings.HasPrefix(r, pong) {
			return got
		}
		got = append(got, r)
	}
}

// close ends the helper's input and returns its exit code.
func (h *helperBinary) close() int {
	h.t.Helper()
	_ = h.stdin.Close()
	select {
	case err := <-h.waitErr:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return 0
	case <-time.After(5 * time.Second):
		h.t.Fatalf("helper still runs 5 s after its input ended\nstderr:\n%s", h.stderr.String())
		return -1
	}
}

// etfRequest encodes {Tag, Command} as term_to_binary/1 would.
func etfRequest(tag any, cmd etf.Term) []byte {
	buf := &lib.Buffer{B: make([]byte, 1, 128)}
	buf.B[0] = 131
	if err := etf.Encode(etf.Tuple{tag, cmd}, buf, etf.EncodeOptions{}); err != nil {
		panic(err)
	}
	return buf.B
}

// frame prefixes b with its {packet,4} length.
func frame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// showTerm prints a decoded reply the way ~0tp would, near enough.
func showTerm(term etf.Term) string {
	switch v := term.(type) {
	case etf.Atom:
		return string(v)
	case []byte:
		return fmt.Sprintf("<<%q>>", v)
	case etf.Tuple:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = showTerm(e)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case etf.List:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = showTerm(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		return fmt.Sprint(v)
	}
}
