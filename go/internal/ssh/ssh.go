// Package ssh reaches a Docker host over SSH, as the docker CLI does for
// DOCKER_HOST=ssh://user@host: the API through `docker system dial-stdio`
// run on the server, and the Erlang nodes in its containers through
// direct-tcpip channels (what `ssh -W HOST:PORT` opens) to their addresses
// as the server sees them.
//
// Everything goes through the user's own ssh program, so that the user's
// ~/.ssh/config (Host blocks, ProxyJump, IdentityFile), agent, keys and
// known_hosts apply unchanged; golang.org/x/crypto/ssh would honour none of
// them. ssh runs with BatchMode=yes: it never asks for a password or a
// passphrase, and an unknown host key is an error, not a question.
//
// One SSH connection serves everything for one server: an OpenSSH master
// (ssh -M) with its control socket in a private directory (mode 0700),
// which every later ssh joins (-S). The API's connection is
// github.com/docker/cli's connection helper with that socket added to its
// flags; a tunnel is `ssh -S SOCKET -W HOST:PORT`, one per TCP connection.
// The master starts on first use, stops when nothing has used it for Idle,
// and is started again by the next use after it ends, for whatever reason
// (the server restarted, the network dropped): nothing else restarts.
package ssh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/cli/cli/connhelper/commandconn"
	cssh "github.com/docker/cli/cli/connhelper/ssh"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// DefaultIdle is how long the master stays up with nothing using it.
const DefaultIdle = time.Minute

// connectTimeout bounds ssh's own TCP connect and its handshake: a
// server that does not answer is reported, not waited for forever.
const connectTimeout = 10 * time.Second

// IsSSH says whether a Docker host address (DOCKER_HOST, a context's
// endpoint) is an ssh:// one.
func IsSSH(host string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(host)), "ssh://")
}

// Conn is the SSH connection to one Docker host, shared by the API and
// every tunnel. It is safe for concurrent use.
type Conn struct {
	// Idle is how long the master stays up unused; zero is DefaultIdle.
	Idle time.Duration
	// Log receives one line per master started or ended; nil discards.
	Log *slog.Logger

	url    string
	spec   *cssh.Spec
	dir    string // private: holds the control socket
	ctl    string
	helper *connhelper.ConnectionHelper

	start chan struct{} // a token: held while a master is being started

	mu     sync.Mutex
	m      *master // nil when none is up
	users  int     // connections open through the master
	idle   *time.Timer
	closed bool
	fwd    map[string]*forward

	lastAPI atomic.Pointer[failure] // see apiConn
}

// master is one ssh -M process.
type master struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // why it exited; set before done closes
}

// New returns the connection to the Docker host at rawURL
// (ssh://[user@]host[:port][/socket]). It starts nothing: the first use
// does.
func New(rawURL string) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("DOCKER_HOST=%s: %w", rawURL, err)
	}
	sp, err := cssh.NewSpec(u)
	if err != nil {
		return nil, fmt.Errorf("DOCKER_HOST=%s: %w", rawURL, err)
	}
	dir, err := privateDir()
	if err != nil {
		return nil, err
	}
	c := &Conn{url: rawURL, spec: sp, dir: dir, ctl: filepath.Join(dir, "ctl"), start: make(chan struct{}, 1), fwd: map[string]*forward{}}
	// The helper's ssh joins our master and never becomes one itself.
	c.helper, err = connhelper.GetConnectionHelperWithSSHOpts(rawURL, c.joinFlags())
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("DOCKER_HOST=%s: %w", rawURL, err)
	}
	return c, nil
}

// privateDir makes the directory for the control socket: mode 0700, so
// that only this user can join the master. A socket path is limited to
// about 100 bytes, hence /tmp when TMPDIR is long.
func privateDir() (string, error) {
	parent := os.TempDir()
	if len(parent) > 60 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "epmd-docker-ssh-")
	if err != nil {
		return "", fmt.Errorf("ssh control directory: %w", err)
	}
	return dir, nil
}

// URL is the Docker host address as given, for people and for the
// reachability decision.
func (c *Conn) URL() string { return c.url }

// Server is the server as ssh is asked for it: [user@]host[:port].
func (c *Conn) Server() string {
	s := c.spec.Host
	if c.spec.User != "" {
		s = c.spec.User + "@" + s
	}
	if c.spec.Port != "" {
		s += ":" + c.spec.Port
	}
	return s
}

// HTTPHost is the dummy host name for HTTP requests over DialAPI.
func (c *Conn) HTTPHost() string { return c.helper.Host }

// joinFlags are the ssh options of every ssh that joins the master.
func (c *Conn) joinFlags() []string {
	return []string{"-S", c.ctl, "-o", "ControlMaster=no", "-o", "BatchMode=yes"}
}

// DialAPI connects to the Docker daemon's API on the server through
// `docker system dial-stdio` (network and addr are ignored: an
// http.Transport's DialContext).
func (c *Conn) DialAPI(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	conn, err := c.helper.Dialer(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: docker system dial-stdio: %w: %v", c.Server(), wire.ErrUnavailable, err)
	}
	return &apiConn{Conn: c.track(conn), c: c}, nil
}

// apiConn notes why `docker system dial-stdio` failed: the Docker client
// turns some of those errors into a bare "cannot connect" (any that
// mentions "dial unix"), losing what the server printed.
type apiConn struct {
	net.Conn
	c *Conn
}

func (a *apiConn) Read(p []byte) (int, error) {
	n, err := a.Conn.Read(p)
	if err != nil && err != io.EOF && strings.Contains(err.Error(), "stderr=") {
		a.c.lastAPI.Store(&failure{err: err, at: time.Now()})
	}
	return n, err
}

func (a *apiConn) CloseWrite() error {
	if cw, ok := a.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// failure is an error and when it happened.
type failure struct {
	err error
	at  time.Time
}

// recentAPIFailure is the last dial-stdio failure if it happened within
// the last few seconds, else nil.
func (c *Conn) recentAPIFailure() error {
	if f := c.lastAPI.Load(); f != nil && time.Since(f.at) < 10*time.Second {
		return f.err
	}
	return nil
}

// Dial opens a direct-tcpip channel to addr (host:port as the server sees
// it) over the master: a TCP connection from the server to addr.
func (c *Conn) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("ssh %s: cannot tunnel %s", c.Server(), network)
	}
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	args := append(c.joinFlags(), "-W", addr)
	args = append(args, c.spec.Args()...)
	conn, err := commandconn.New(ctx, "ssh", args...)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: -W %s: %w", c.Server(), addr, err)
	}
	return c.track(conn), nil
}

// ensure starts the master unless one is up, and waits until it is
// logged in or ctx ends. The master is not bound to ctx: a lookup that
// gives up leaves it starting, for the next one.
func (c *Conn) ensure(ctx context.Context) error {
	select {
	case c.start <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("ssh %s: %w", c.Server(), ctx.Err())
	}
	defer func() { <-c.start }()
	c.mu.Lock()
	m, closed := c.m, c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("ssh %s: %w: connection closed", c.Server(), wire.ErrUnavailable)
	}
	if m == nil {
		var err error
		if m, err = c.startMaster(); err != nil {
			return err
		}
	}
	return c.waitUp(ctx, m)
}

// startMaster runs ssh -M in the background.
func (c *Conn) startMaster() (*master, error) {
	args := []string{
		"-M", "-N", "-T", "-S", c.ctl,
		"-o", "ControlPersist=no",
		"-o", "BatchMode=yes",
		"-o", fmt.Sprintf("ConnectTimeout=%d", int(connectTimeout/time.Second)),
		// A dead network is noticed within about 30 s, and the next use
		// then starts a new master.
		"-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
	}
	args = append(args, c.spec.Args()...)
	m := &master{stderr: &lockedBuffer{}, done: make(chan struct{})}
	m.cmd = exec.Command("ssh", args...)
	m.cmd.Stdin, m.cmd.Stdout, m.cmd.Stderr = nil, nil, m.stderr
	m.cmd.SysProcAttr = masterAttr()
	_ = os.Remove(c.ctl) // a socket left by a master that died
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ssh %s: %w: cannot run ssh: %v", c.Server(), wire.ErrUnavailable, err)
	}
	c.mu.Lock()
	c.m = m
	c.mu.Unlock()
	c.logger().Info("ssh connection starting", "server", c.Server())
	go func() {
		err := m.cmd.Wait()
		m.err = classify(c.Server(), err, m.stderr.String())
		close(m.done)
		c.mu.Lock()
		if c.m == m {
			c.m = nil
		}
		c.mu.Unlock()
		c.logger().Info("ssh connection ended", "server", c.Server(), "err", m.err)
	}()
	return m, nil
}

// waitUp waits until m has logged in, which is when its control socket
// accepts (OpenSSH opens it only after authentication), or m exits.
func (c *Conn) waitUp(ctx context.Context, m *master) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, err := net.Dial("unix", c.ctl); err == nil {
			s.Close()
			return nil
		}
		select {
		case <-m.done:
			return m.err
		case <-ctx.Done():
			return fmt.Errorf("ssh %s: %w (still connecting)", c.Server(), ctx.Err())
		case <-tick.C:
		}
	}
}

// track counts conn as a user of the master until it is closed.
func (c *Conn) track(conn net.Conn) net.Conn {
	c.mu.Lock()
	c.users++
	if c.idle != nil {
		c.idle.Stop()
	}
	c.mu.Unlock()
	return &tracked{Conn: conn, done: c.release}
}

// release ends one use, and arms the idle timer after the last one.
func (c *Conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users--
	if c.users > 0 || c.closed {
		return
	}
	idle := c.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	c.idle = time.AfterFunc(idle, func() {
		c.mu.Lock()
		m := c.m
		stop := c.users == 0 && m != nil
		c.mu.Unlock()
		if stop {
			c.logger().Info("ssh connection idle, closing", "server", c.Server(), "idle", idle)
			m.stop()
		}
	})
}

// Close stops the master and every forward, and removes the control
// directory.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	m := c.m
	fwd := c.fwd
	c.fwd = map[string]*forward{}
	if c.idle != nil {
		c.idle.Stop()
	}
	c.mu.Unlock()
	for _, f := range fwd {
		f.ln.Close()
	}
	if m != nil {
		m.stop()
	}
	return os.RemoveAll(c.dir)
}

// stop ends the master and waits for it, a few seconds at most.
func (m *master) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(3 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

func (c *Conn) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// tracked is a connection that tells its Conn when it closes.
type tracked struct {
	net.Conn
	once sync.Once
	done func()
}

func (t *tracked) Close() error {
	err := t.Conn.Close()
	t.once.Do(t.done)
	return err
}

// CloseWrite half-closes, as http and io.Copy expect of a pipe-backed
// connection.
func (t *tracked) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// lockedBuffer is the master's stderr: written by os/exec's copier, read
// when the master ends. It keeps the last 4 KiB.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4096 {
		rest := l.b.Bytes()[l.b.Len()-2048:]
		l.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*lockedBuffer)(nil)
