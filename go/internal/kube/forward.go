package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// fwdKey names one forward: a port of one incarnation of a pod. A pod
// deleted and created again under the same name has a new UID, and so
// gets new forwards.
type fwdKey struct {
	UID       types.UID
	Namespace string
	Pod       string
	Port      uint16
}

func (k fwdKey) String() string {
	return fmt.Sprintf("pod %s.%s port %d", k.Pod, k.Namespace, k.Port)
}

// dialFunc opens the API server's port-forward connection to a pod.
type dialFunc func(namespace, pod string) (httpstream.Connection, error)

// forwards is the set of open port-forwards. Each listens on a loopback
// port of its own and carries every connection made to it as a pair of
// streams (data and error) over one connection to the API server, as
// kubectl port-forward does; it closes when no connection has used it for
// idle, or when that connection breaks.
type forwards struct {
	dial dialFunc
	idle time.Duration
	log  *slog.Logger
	// closed, if set, is called (not holding any lock) after a forward
	// closed, so that answers naming its port can be dropped.
	closed func(fwdKey)

	mu      sync.Mutex
	open    map[fwdKey]*forward
	opening map[fwdKey]chan struct{}
}

// forward is one open port-forward.
type forward struct {
	key  fwdKey
	ln   net.Listener
	conn httpstream.Connection
	at   netip.AddrPort // the local end

	mu     sync.Mutex
	active int
	last   time.Time
	reqID  int
	once   sync.Once
	done   chan struct{}
}

// dialTimeout bounds opening the connection to the API server for a
// forward, which goes on in the background if the lookup that asked for it
// could not wait: the next one finds it open.
const dialTimeout = 15 * time.Second

// get returns the local end of the open forward k, if there is one.
func (fs *forwards) get(k fwdKey) (netip.AddrPort, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.open[k]
	if !ok {
		return netip.AddrPort{}, false
	}
	return f.at, true
}

// Open returns the local end of a forward to k, opening one if none is
// open, waiting at most until ctx ends.
func (fs *forwards) Open(ctx context.Context, k fwdKey) (netip.AddrPort, error) {
	for {
		fs.mu.Lock()
		if f, ok := fs.open[k]; ok {
			fs.mu.Unlock()
			return f.at, nil
		}
		wait, busy := fs.opening[k]
		var result chan error
		if !busy {
			wait = make(chan struct{})
			if fs.opening == nil {
				fs.opening = map[fwdKey]chan struct{}{}
			}
			fs.opening[k] = wait
			result = make(chan error, 1)
			go func() { result <- fs.start(k, wait) }()
		}
		fs.mu.Unlock()
		if result != nil {
			select {
			case err := <-result:
				if err != nil {
					return netip.AddrPort{}, err
				}
			case <-ctx.Done():
				return netip.AddrPort{}, fmt.Errorf("%w: opening a port-forward to %v: %w", wire.ErrUnavailable, k, ctx.Err())
			}
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return netip.AddrPort{}, fmt.Errorf("%w: opening a port-forward to %v: %w", wire.ErrUnavailable, k, ctx.Err())
		}
		fs.mu.Lock()
		_, ok := fs.open[k]
		fs.mu.Unlock()
		if !ok {
			return netip.AddrPort{}, fmt.Errorf("%w: cannot open a port-forward to %v (see the helper's log)", wire.ErrUnavailable, k)
		}
	}
}

// start opens the forward k and closes wait when it is open or failed.
func (fs *forwards) start(k fwdKey, wait chan struct{}) (err error) {
	defer func() {
		fs.mu.Lock()
		delete(fs.opening, k)
		fs.mu.Unlock()
		close(wait)
	}()
	type dialed struct {
		c   httpstream.Connection
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := fs.dial(k.Namespace, k.Pod)
		ch <- dialed{c, err}
	}()
	var d dialed
	select {
	case d = <-ch:
	case <-time.After(dialTimeout):
		go func() {
			if d := <-ch; d.c != nil {
				d.c.Close()
			}
		}()
		return fmt.Errorf("%w: the API server did not open a port-forward to %v within %v", wire.ErrUnavailable, k, dialTimeout)
	}
	if d.err != nil {
		fs.log.Warn("cannot open a port-forward", "to", k.String(), "err", d.err)
		return fmt.Errorf("%w: port-forward to %v: %w", wire.ErrUnavailable, k, d.err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		d.c.Close()
		return fmt.Errorf("%w: port-forward to %v: %w", wire.ErrUnavailable, k, err)
	}
	at, _ := netip.ParseAddrPort(ln.Addr().String())
	f := &forward{key: k, ln: ln, conn: d.c, at: at, last: time.Now(), done: make(chan struct{})}
	fs.mu.Lock()
	if fs.open == nil {
		fs.open = map[fwdKey]*forward{}
	}
	fs.open[k] = f
	fs.mu.Unlock()
	fs.log.Info("port-forward open", "to", k.String(), "local", at.String())
	go fs.serve(f)
	go fs.reap(f)
	return nil
}

// serve accepts local connections until the forward closes.
func (fs *forwards) serve(f *forward) {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			fs.shut(f, "listener closed")
			return
		}
		f.mu.Lock()
		f.active++
		f.reqID++
		id := f.reqID
		f.mu.Unlock()
		go func() {
			defer func() {
				f.mu.Lock()
				f.active--
				f.last = time.Now()
				f.mu.Unlock()
			}()
			if err := f.carry(c, id); err != nil {
				fs.log.Debug("port-forward connection ended", "to", f.key.String(), "err", err)
			}
		}()
	}
}

// reap closes the forward when it has been idle long enough, or when its
// connection to the API server breaks.
func (fs *forwards) reap(f *forward) {
	tick := time.NewTicker(max(fs.idle/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-f.conn.CloseChan():
			fs.shut(f, "the connection to the API server closed")
			return
		case <-tick.C:
			f.mu.Lock()
			idle := f.active == 0 && time.Since(f.last) >= fs.idle
			f.mu.Unlock()
			if idle {
				fs.shut(f, "idle")
				return
			}
		}
	}
}

// shut closes f once, and says so.
func (fs *forwards) shut(f *forward, why string) {
	f.once.Do(func() {
		close(f.done)
		f.ln.Close()
		f.conn.Close()
		fs.mu.Lock()
		if fs.open[f.key] == f {
			delete(fs.open, f.key)
		}
		fs.mu.Unlock()
		fs.log.Info("port-forward closed", "to", f.key.String(), "local", f.at.String(), "why", why)
		if fs.closed != nil {
			fs.closed(f.key)
		}
	})
}

// closePod closes the forwards to pod uid (it stopped, or is gone).
func (fs *forwards) closePod(uid types.UID, why string) {
	fs.mu.Lock()
	var fl []*forward
	for k, f := range fs.open {
		if k.UID == uid {
			fl = append(fl, f)
		}
	}
	fs.mu.Unlock()
	for _, f := range fl {
		fs.shut(f, why)
	}
}

// closeAll closes every forward.
func (fs *forwards) closeAll() {
	fs.mu.Lock()
	var fl []*forward
	for _, f := range fs.open {
		fl = append(fl, f)
	}
	fs.mu.Unlock()
	for _, f := range fl {
		fs.shut(f, "helper stopping")
	}
}

// carry copies one local connection through a pair of streams, as
// client-go's PortForwarder does for each connection it accepts.
func (f *forward) carry(c net.Conn, id int) error {
	defer c.Close()
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(int(f.key.Port)))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.Itoa(id))
	errStream, err := f.conn.CreateStream(h)
	if err != nil {
		return fmt.Errorf("create error stream: %w", err)
	}
	errStream.Close() // nothing is written to it
	defer f.conn.RemoveStreams(errStream)
	remoteErr := make(chan error, 1)
	go func() {
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil:
			remoteErr <- err
		case len(msg) > 0:
			remoteErr <- errors.New(string(msg))
		default:
			remoteErr <- nil
		}
	}()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := f.conn.CreateStream(h)
	if err != nil {
		return fmt.Errorf("create data stream: %w", err)
	}
	defer f.conn.RemoveStreams(data)
	remoteDone := make(chan struct{})
	go func() {
		io.Copy(c, data)
		close(remoteDone)
	}()
	localDone := make(chan struct{})
	go func() {
		defer data.Close()
		io.Copy(data, c)
		close(localDone)
	}()
	select {
	case <-remoteDone:
	case <-localDone:
		<-remoteDone
	}
	data.Reset()
	return <-remoteErr
}
