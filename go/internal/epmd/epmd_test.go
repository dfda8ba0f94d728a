package epmd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// serve answers one connection on a loopback listener with reply, after
// checking the request, and returns the address.
func serve(t *testing.T, reply []byte, hold time.Duration) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req := make([]byte, 3)
		if _, err := c.Read(req); err != nil || string(req) != "\x00\x01n" {
			t.Errorf("request: got %q, want NAMES_REQ", req)
			return
		}
		time.Sleep(hold)
		c.Write(reply)
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestNames(t *testing.T) {
	head := "\x00\x00\x11\x11"
	tests := []struct {
		name  string
		reply string
		want  []Node
		err   error
	}{
		{"none", head, nil, nil},
		{"one", head + "name app at port 37001\n", []Node{{"app", 37001}}, nil},
		{"two", head + "name a at port 1\nname b-2_x at port 65535\n", []Node{{"a", 1}, {"b-2_x", 65535}}, nil},
		{"short", "\x00\x00", nil, ErrNotEPMD},
		{"http", "HTTP/1.1 400 Bad Request\r\n\r\n", nil, ErrNotEPMD},
		{"bad port", head + "name a at port 0\n", nil, ErrNotEPMD},
		{"no port", head + "name a\n", nil, ErrNotEPMD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, []byte(tt.reply), 0)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, err := Names(ctx, addr)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error: got %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNamesDeadline(t *testing.T) {
	addr := serve(t, []byte("\x00\x00\x11\x11"), 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Names(ctx, addr)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error: got %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v, want about 100ms", took)
	}
}

func TestNamesCancel(t *testing.T) {
	addr := serve(t, []byte("\x00\x00\x11\x11"), 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := Names(ctx, addr); !errors.Is(err, context.Canceled) {
		t.Errorf("error: got %v, want canceled", err)
	}
}

func TestNamesRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := Names(ctx, addr); err == nil {
		t.Error("got no error from a closed port")
	}
}

// TestNamesRealEPMD asks a real epmd, on a private port, about a real node:
// the reply format is the daemon's, not this package's idea of it.
func TestNamesRealEPMD(t *testing.T) {
	epmdBin, err := exec.LookPath("epmd")
	if err != nil {
		t.Skip("epmd not on PATH")
	}
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("erl not on PATH")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d := exec.Command(epmdBin, "-port", strconv.Itoa(port))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Kill(); d.Wait() })

	node := exec.Command("erl", "-sname", "epmdtest", "-start_epmd", "false", "-noshell", "-noinput")
	node.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Process.Kill(); node.Wait() })

	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := Names(ctx, addr)
		cancel()
		if err == nil && len(got) == 1 {
			if got[0].Name != "epmdtest" || got[0].Port <= 0 {
				t.Fatalf("got %v, want epmdtest at some port", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node never registered: got %v, %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNamesThrough: a relay that passes the daemon's close on late (a
// Kubernetes port-forward took a second) held Names until its deadline;
// NamesThrough answers once the reply is complete and quiet. The server
// here never closes until the test is over.
func TestNamesThrough(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req := make([]byte, 3)
				if _, err := c.Read(req); err != nil {
					return
				}
				// As epmd does: the port, then a line a node.
				c.Write([]byte("\x00\x00\x11\x11"))
				c.Write([]byte("name app at port 37001\n"))
				<-done
			}()
		}
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := NamesThrough(ctx, addr, 100*time.Millisecond)
	if err != nil || !reflect.DeepEqual(got, []Node{{"app", 37001}}) {
		t.Fatalf("NamesThrough = %v, %v; want [app 37001]", got, err)
	}
	// Names waits for the close, which does not come before its deadline.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := Names(short, addr); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Names without the close: %v, want its deadline", err)
	}
	// A reply cut in the middle of a line is waited for as before.
	if complete([]byte("\x00\x00\x11\x11name app at po")) {
		t.Error("a reply cut in a line counts as complete")
	}
}
