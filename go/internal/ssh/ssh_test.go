package ssh

import (
	"errors"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

func TestIsSSH(t *testing.T) {
	for host, want := range map[string]bool{
		"ssh://me@server":             true,
		"SSH://server:2222":           true,
		"unix:///var/run/docker.sock": false,
		"tcp://server:2376":           false,
		"":                            false,
	} {
		if got := IsSSH(host); got != want {
			t.Errorf("IsSSH(%q) = %v, want %v", host, got, want)
		}
	}
}

// The stderr texts are what OpenSSH 9.2 and docker 20.10's dial-stdio
// print, as seen in the end-to-end test.
func TestClassify(t *testing.T) {
	cases := []struct {
		stderr string
		kind   error
		what   string
	}{
		{"Host key verification failed.\r\n", ErrSSH, "host key"},
		{"edsrv@127.0.0.1: Permission denied (publickey).\r\n", ErrSSH, "refused the login"},
		{"ssh: connect to host 127.0.0.1 port 2222: Connection refused\r\n", ErrSSH, "cannot connect"},
		{"ssh: Could not resolve hostname nowhere: Name or service not known\r\n", ErrSSH, "does not resolve"},
	}
	for _, tc := range cases {
		err := classify("u@h", &exec.ExitError{}, tc.stderr)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, tc.kind) || !errors.Is(err, wire.ErrUnavailable) || !strings.Contains(e.What, tc.what) {
			t.Errorf("classify(%q) = %v, want %v about %q", tc.stderr, err, tc.kind, tc.what)
		}
	}
}

func TestExplain(t *testing.T) {
	c, err := New("ssh://u@h:2222")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := []struct {
		err  string
		kind error
	}{
		{"command [ssh ...] has exited with exit status 127, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=bash: line 1: docker: command not found\n", ErrNoDockerCLI},
		{"command [ssh ...] has exited with exit status 1, ...: stderr=failed to open the raw stream connection: dial unix /run/x.sock: connect: no such file or directory\n", ErrDaemon},
		{"...: stderr=Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n", ErrDaemon},
	}
	for _, tc := range cases {
		if got := c.Explain(errors.New(tc.err)); !errors.Is(got, tc.kind) {
			t.Errorf("Explain(%q) = %v, want %v", tc.err, got, tc.kind)
		}
	}
	if got := c.Explain(errors.New("no stderr here")); got != nil {
		t.Errorf("Explain of an unrelated error = %v, want nil", got)
	}
}

// A tunnel serves this user only: the peer's socket is found as this
// user's.
func TestSameUser(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the peer's user is told on Linux only")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := sameUser(server); err != nil {
		t.Fatalf("sameUser of our own connection: %v", err)
	}
}

// The master stays while a connection uses it, and is stopped once none
// has for Idle. A sleep stands in for ssh -M: what is tested is the
// counting and the stop.
func TestIdleStopsMaster(t *testing.T) {
	c, err := New("ssh://u@h")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Idle = 50 * time.Millisecond
	m := &master{cmd: exec.Command("sleep", "60"), stderr: &lockedBuffer{}, done: make(chan struct{})}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	c.mu.Lock()
	c.m = m
	c.mu.Unlock()

	a, b := net.Pipe()
	defer b.Close()
	used := c.track(a)
	time.Sleep(4 * c.Idle)
	select {
	case <-m.done:
		t.Fatal("the master was stopped while a connection used it")
	default:
	}
	used.Close()
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the master was not stopped after the last connection closed")
	}
}
