package main

import (
	"bytes"
	bin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// TestPort checks the port face end to end: a ping framed on stdin gets a
// pong framed on stdout, nothing else is written there, and the helper
// exits when stdin closes. It needs no Docker: ping does not ask it.
func TestPort(t *testing.T) {
	cmd := exec.Command(binary, "port")
	cmd.Env = append(cmd.Environ(), "DOCKER_HOST=unix:///nonexistent.sock")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// term_to_binary({7, ping})
	body := []byte{131, 104, 2, 97, 7, 119, 4, 'p', 'i', 'n', 'g'}
	frame := bin.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := stdin.Write(append(frame, body...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	stdin.Close()

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("port exited with %v after stdin closed; stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("port did not exit when stdin closed")
	}

	out := stdout.Bytes()
	if len(out) < 4 {
		t.Fatalf("stdout %q: no frame", out)
	}
	n := bin.BigEndian.Uint32(out)
	reply := out[4:]
	if int(n) != len(reply) || reply[0] != 131 || !bytes.Contains(reply, []byte("pong")) {
		t.Errorf("stdout %q: want exactly one frame holding {7, {pong, Version}}", out)
	}
}

// portProc is the binary in port mode, its stdin a pipe, its frames read
// as they come.
type portProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	frames chan []byte // bodies; closed when stdout ends
	stderr bytes.Buffer
}

func startPort(t *testing.T, env ...string) *portProc {
	t.Helper()
	p := &portProc{cmd: exec.Command(binary, "port"), frames: make(chan []byte, 16)}
	p.cmd.Env = append(p.cmd.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.frames)
		for {
			b, err := wire.ReadFrame(stdout)
			if err != nil {
				return
			}
			p.frames <- b
		}
	}()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// send writes the frame of term.
func (p *portProc) send(t *testing.T, term etf.Term) {
	t.Helper()
	buf := &lib.Buffer{B: []byte{131}}
	if err := etf.Encode(term, buf, etf.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wire.WriteFrame(p.stdin, buf.B); err != nil {
		t.Fatal(err)
	}
}

// next returns the next frame's term, or fails after wait.
func (p *portProc) next(t *testing.T, wait time.Duration) etf.Term {
	t.Helper()
	select {
	case b, ok := <-p.frames:
		if !ok {
			t.Fatalf("stdout ended; stderr %q", p.stderr.String())
		}
		term, _, err := etf.Decode(b[1:], nil, etf.DecodeOptions{})
		if err != nil {
			t.Fatalf("frame %q: %v", b, err)
		}
		return term
	case <-time.After(wait):
		t.Fatalf("no frame within %v; stderr %q", wait, p.stderr.String())
		return nil
	}
}

// exit waits for the helper to exit, its output read to the end, and
// returns its status and the frames it wrote.
func (p *portProc) exit(t *testing.T) (int, [][]byte) {
	t.Helper()
	var frames [][]byte
	timeout := time.After(20 * time.Second)
	for open := true; open; {
		select {
		case b, ok := <-p.frames:
			if ok {
				frames = append(frames, b)
			}
			open = ok
		case <-timeout:
			t.Fatalf("port did not exit; stderr %q", p.stderr.String())
		}
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), frames
	case err != nil:
		t.Fatal(err)
	}
	return 0, frames
}

// TestPortBadSetting: a setting that cannot work is said once, to the port
// owner as {push, {fatal, Msg}} naming the setting and on stderr, and the
// helper exits with status 78, before it reads anything.
func TestPortBadSetting(t *testing.T) {
	for _, env := range []string{"EPMD_DOCKER_TTL=bogus", "EPMD_DOCKER_MODE=bogus", "EPMD_DOCKER_TIMEOUT=bogus", "EPMD_DOCKER_NEGATIVE_TTL=-1s"} {
		t.Run(env, func(t *testing.T) {
			p := startPort(t, env, "DOCKER_HOST=unix:///nonexistent.sock")
			status, frames := p.exit(t)
			name, _, _ := strings.Cut(env, "=")
			if status != 78 {
				t.Errorf("exit status %d, want 78; stderr %q", status, p.stderr.String())
			}
			if len(frames) != 1 {
				t.Fatalf("got %d frames, want one {push, {fatal, _}}", len(frames))
			}
			term, _, err := etf.Decode(frames[0][1:], nil, etf.DecodeOptions{})
			push, _ := term.(etf.Tuple)
			if err != nil || len(push) != 2 || push[0] != etf.Atom("push") {
				t.Fatalf("got %v, %v; want {push, {fatal, Msg}}", term, err)
			}
			ev, _ := push[1].(etf.Tuple)
			msg, _ := ev[1].([]byte)
			if len(ev) != 2 || ev[0] != etf.Atom("fatal") || !strings.Contains(string(msg), name) {
				t.Errorf("got %v, want {fatal, Msg} with Msg naming %s", push[1], name)
			}
			if lines := strings.Count(strings.TrimSpace(p.stderr.String()), "\n") + 1; lines != 1 || !strings.Contains(p.stderr.String(), name) {
				t.Errorf("stderr %q: want one line naming %s", p.stderr.String(), name)
			}
		})
	}
}

// TestPortCorrupt: a length prefix over the frame cap makes the helper exit
// with status 65 at once, although the rest of the declared frame (4 GiB)
// never comes and stdin stays open.
func TestPortCorrupt(t *testing.T) {
	p := startPort(t, "DOCKER_HOST=unix:///nonexistent.sock")
	p.send(t, etf.Tuple{1, etf.Atom("ping")})
	p.next(t, 10*time.Second)
	if _, err := p.stdin.Write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	status, _ := p.exit(t)
	if status != 65 {
		t.Errorf("exit status %d, want 65; stderr %q", status, p.stderr.String())
	}
	if got := strings.Count(p.stderr.String(), "level=ERROR"); got != 1 {
		t.Errorf("stderr %q: want one error line", p.stderr.String())
	}
}

// TestPortPong: the pong carries the protocol number.
func TestPortPong(t *testing.T) {
	p := startPort(t, "DOCKER_HOST=unix:///nonexistent.sock")
	p.send(t, etf.Tuple{7, etf.Atom("ping")})
	got, _ := p.next(t, 10*time.Second).(etf.Tuple)
	pong, _ := got[1].(etf.Tuple)
	if len(got) != 2 || got[0] != 7 || len(pong) != 3 || pong[0] != etf.Atom("pong") || pong[2] != wire.Protocol {
		t.Errorf("got %v, want {7, {pong, Version, %d}}", got, wire.Protocol)
	}
	p.stdin.Close()
	if status, _ := p.exit(t); status != 0 {
		t.Errorf("exit status %d, want 0", status)
	}
}

// hungDaemon is a Docker socket that accepts connections and never
// answers.
func hungDaemon(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "unix://" + sock
}

// TestPortTimeout: EPMD_DOCKER_TIMEOUT, the port owner's timeout, sets the
// deadline of each request: with a long one, a lookup at a daemon that
// never answers is still pending after the old fixed 1.5 s; with a short
// one it is answered with timeout.
func TestPortTimeout(t *testing.T) {
	host := hungDaemon(t)
	resolveWeb := func(tag int) etf.Term {
		return etf.Tuple{tag, etf.Tuple{etf.Atom("resolve"), []byte("web"), etf.Atom("inet")}}
	}
	long := startPort(t, "DOCKER_HOST="+host, "EPMD_DOCKER_TIMEOUT=60000")
	long.send(t, resolveWeb(1))
	select {
	case b := <-long.frames:
		t.Fatalf("got %q within 3s, want no answer before the deadline (45s)", b)
	case <-time.After(3 * time.Second):
	}

	short := startPort(t, "DOCKER_HOST="+host, "EPMD_DOCKER_TIMEOUT=200")
	short.send(t, resolveWeb(2))
	want := etf.Tuple{2, etf.Tuple{etf.Atom("error"), etf.Atom("timeout")}}
	if got := short.next(t, 10*time.Second); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestPortPushes: against the real daemon, the helper says {stream, up},
// and when a container it answered for stops, it pushes the invalidation
// of the names it answered, after which the name no longer resolves.
func TestPortPushes(t *testing.T) {
	needDocker(t)
	p := startPort(t)
	up := etf.Tuple{etf.Atom("push"), etf.Tuple{etf.Atom("stream"), etf.Atom("up")}}
	if got := p.next(t, 20*time.Second); fmt.Sprint(got) != fmt.Sprint(up) {
		t.Fatalf("got %v, want %v first", got, up)
	}
	c := start(t, "pushed", nil, "sleep", "300")
	p.send(t, etf.Tuple{1, etf.Tuple{etf.Atom("resolve"), []byte(c.Name), etf.Atom("inet")}})
	want := fmt.Sprint(etf.Tuple{1, etf.Tuple{etf.Atom("ok"), etf.Tuple{int(c.Addr.As4()[0]), int(c.Addr.As4()[1]), int(c.Addr.As4()[2]), int(c.Addr.As4()[3])}}})
	for {
		// An {invalidate, all} for the start may come first.
		got := p.next(t, 20*time.Second)
		if s := fmt.Sprint(got); s == want {
			break
		} else if !strings.HasPrefix(s, "[push ") {
			t.Fatalf("got %v, want %s", got, want)
		}
	}

	// Other containers come and go on a shared daemon, and each start
	// invalidates all: what must hold is that after docker stop, a push
	// covers the name, and that what the helper answers after it is new.
	dockerCLI(t, "stop", "-t", "0", c.ID)
	mine := fmt.Sprint(etf.Tuple{etf.Atom("push"), etf.Tuple{etf.Atom("invalidate"), etf.List{[]byte(c.Name)}}})
	all := fmt.Sprint(etf.Tuple{etf.Atom("push"), etf.Tuple{etf.Atom("invalidate"), etf.Atom("all")}})
	deadline := time.Now().Add(30 * time.Second)
	for tag := 2; ; tag++ {
		got := fmt.Sprint(p.next(t, time.Until(deadline)))
		if got != mine && got != all {
			continue
		}
		p.send(t, etf.Tuple{tag, etf.Tuple{etf.Atom("resolve"), []byte(c.Name), etf.Atom("inet")}})
		reply := fmt.Sprint(p.next(t, time.Until(deadline)))
		for strings.HasPrefix(reply, "[push ") {
			reply = fmt.Sprint(p.next(t, time.Until(deadline)))
		}
		if reply == fmt.Sprint(etf.Tuple{tag, etf.Tuple{etf.Atom("error"), etf.Atom("not_found")}}) {
			return
		}
		if got == mine {
			t.Fatalf("after %s: got %s, want not_found", got, reply)
		}
	}
}
