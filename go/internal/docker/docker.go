// Package docker is the helper's read-only window on the Docker Engine API.
//
// It wraps github.com/docker/docker/client, configured like the docker CLI
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and DOCKER_API_VERSION
// are honoured, and so are docker contexts: DOCKER_CONTEXT and the current
// context of config.json; see endpoint.go) and always negotiating the API
// version, so that the same
// binary talks to current daemons and to older ones such as Debian's 20.10
// (API 1.41). It returns small types of its own rather than the Engine's, so
// that the resolver and its test fakes depend on the few fields name
// resolution needs and nothing else.
//
// The helper never changes anything in Docker. These are the only endpoints
// it calls:
//
//	GET /_ping                  Ping; version negotiation; before Events
//	GET /version                ServerVersion
//	GET /containers/json        ListRunning
//	GET /containers/{id}/json   Inspect
//	GET /info                   Info (daemon kind: Desktop, rootless)
//	GET /networks/docker_gwbridge  Gateways (Swarm tasks' local addresses)
//	GET /tasks                  Tasks (Swarm tasks on other nodes; managers only)
//	GET /services               Tasks
//	GET /nodes                  Tasks
//	GET /events?filters=...     Events
//
// Every call takes a context and the caller gives it a deadline. Events is
// the one exception: a stream is meant to stay open, so only its
// subscription has a deadline (SubscribeTimeout), and the stream then lives
// as long as the caller's context.
//
// Errors: a daemon that cannot be reached (not running, socket missing,
// permission denied on the socket, TLS trouble), an API error and a broken
// response all wrap wire.ErrUnavailable, with a message that says which; an
// inspect answered with 404 wraps wire.ErrNotFound; a context that ends
// wraps the context's error (context.DeadlineExceeded, context.Canceled) and
// nothing else, so a caller can tell "Docker is slow" from "Docker is gone".
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/epmd-docker/epmd_docker/go/internal/ssh"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// SubscribeTimeout bounds how long Events waits for the daemon to accept a
// subscription. The stream itself has no deadline: it is meant to stay open.
const SubscribeTimeout = 5 * time.Second

// Client is a read-only Docker Engine API client. It is safe for concurrent
// use.
type Client struct {
	api *client.Client
	ep  Daemon
	ssh *ssh.Conn // for an ssh:// host; see ssh.go
}

// New returns a Client for the daemon the environment names, as the docker
// CLI finds it (DaemonFromEnv: DOCKER_HOST, DOCKER_CONTEXT, the current
// context). It does not contact the daemon: the first call does, so a
// helper can start while Docker is still down. It fails only when the
// environment is unusable (a malformed DOCKER_HOST, a context that is not
// in the store).
func New() (*Client, error) {
	ep, err := DaemonFromEnv()
	if err != nil {
		return nil, err
	}
	return NewAt(ep)
}

// NewAt returns a Client for the daemon at ep, negotiating the API version.
func NewAt(ep Daemon) (*Client, error) {
	sshOpt, conn, err := sshOpts(ep.Host)
	if err != nil {
		return nil, err
	}
	opts := append(ep.clientOpts(), sshOpt...)
	c, err := client.NewClientWithOpts(append(opts, client.WithAPIVersionNegotiation())...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s (%s): %w", ep.Host, ep.Why(), err)
	}
	return &Client{api: c, ep: ep, ssh: conn}, nil
}

// Daemon is where the daemon is, and how that was decided.
func (c *Client) Daemon() Daemon {
	return c.ep
}

// Close releases idle connections to the daemon, and the SSH connection
// to it if any.
func (c *Client) Close() error {
	err := c.api.Close()
	if c.ssh != nil {
		err = errors.Join(err, c.ssh.Close())
	}
	return err
}

// Host is the daemon address in use, such as unix:///var/run/docker.sock.
func (c *Client) Host() string {
	if c.ssh != nil {
		return c.ssh.URL()
	}
	return c.api.DaemonHost()
}

// APIVersion is the API version the client speaks: the negotiated one once a
// call has reached the daemon.
func (c *Client) APIVersion() string {
	return c.api.ClientVersion()
}

// Container is a running container as the container list reports it. The
// list is cheap (one request for all containers) and always current, so
// names, labels and addresses are taken from it; what it lacks (hostname,
// aliases) comes from Inspect.
type Container struct {
	ID          string            // full 64-hex-digit ID
	Name        string            // without the leading slash
	State       string            // "running", "paused", ...
	Labels      map[string]string // never nil
	NetworkMode string            // HostConfig.NetworkMode: "host", "bridge", "container:ID", a network name
	Networks    map[string]Endpoint
}

// Details is what an inspect adds to the list: the hostname, and the
// aliases and DNS names of each endpoint. None of it changes while the
// container's endpoints stay the same (a hostname is fixed at create time,
// aliases at connect time), which is why a caller may keep Details keyed by
// container ID and check it against the list's endpoint IDs.
//
// Details also carries everything the list does, so that one inspect after
// an event is enough to bring a single container up to date.
type Details struct {
	ID          string
	Name        string // without the leading slash
	Hostname    string
	Domainname  string
	Running     bool              // running, and neither paused nor restarting
	Labels      map[string]string // never nil
	NetworkMode string
	Networks    map[string]Endpoint
	// Ports are the published ports (NetworkSettings.Ports), fixed when
	// the container starts; see Port.
	Ports []Port
}

// Endpoint is a container's attachment to one network.
type Endpoint struct {
	EndpointID string
	IPv4       netip.Addr // zero when the endpoint has none
	IPv6       netip.Addr // the global IPv6 address; zero when none
	// Aliases are the network-scoped names. From Inspect only: the list
	// leaves them out. Up to API 1.43 the daemon adds the short ID and the
	// hostname here on user-defined networks.
	Aliases []string
	// DNSNames are all the names the embedded DNS answers for this endpoint
	// (API 1.44 and later; absent before). From Inspect only.
	DNSNames []string
}

// Event says that a container may have changed in a way that matters to name
// resolution.
type Event struct {
	Type        string // "container" or "network"
	Action      string // "start", "die", "connect", ...
	ContainerID string // full ID; for network events, the container connected or disconnected
}

// ListRunning returns the running containers (paused ones excluded: their
// nodes cannot answer).
func (c *Client) ListRunning(ctx context.Context) ([]Container, error) {
	// Without All the daemon lists running, paused and restarting
	// containers; only running ones count.
	list, err := c.api.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return nil, c.wrap(ctx, "list containers", err)
	}
	out := make([]Container, 0, len(list))
	for _, s := range list {
		if s.State != container.StateRunning {
			continue
		}
		ct := Container{
			ID:          s.ID,
			Name:        primaryName(s.Names),
			State:       string(s.State),
			Labels:      s.Labels,
			NetworkMode: s.HostConfig.NetworkMode,
			Networks:    map[string]Endpoint{},
		}
		if ct.Labels == nil {
			ct.Labels = map[string]string{}
		}
		if s.NetworkSettings != nil {
			for name, ep := range s.NetworkSettings.Networks {
				ct.Networks[name] = endpoint(ep)
			}
		}
		out = append(out, ct)
	}
	return out, nil
}

// Inspect returns the details of one container. A container that does not
// exist (any more) gives an error wrapping wire.ErrNotFound.
func (c *Client) Inspect(ctx context.Context, id string) (Details, error) {
	r, err := c.api.ContainerInspect(ctx, id)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return Details{}, fmt.Errorf("inspect container %s: %w", id, wire.ErrNotFound)
		}
		return Details{}, c.wrap(ctx, "inspect container "+id, err)
	}
	if r.ContainerJSONBase == nil {
		return Details{}, fmt.Errorf("inspect container %s: %w: answer without container", id, wire.ErrUnavailable)
	}
	d := Details{
		ID:       r.ID,
		Name:     strings.TrimPrefix(r.Name, "/"),
		Labels:   map[string]string{},
		Networks: map[string]Endpoint{},
	}
	if r.State != nil {
		// As the list's State "running": a paused or restarting
		// container has no node that can answer.
		d.Running = r.State.Running && !r.State.Paused && !r.State.Restarting
	}
	if r.HostConfig != nil {
		d.NetworkMode = string(r.HostConfig.NetworkMode)
	}
	if r.Config != nil {
		d.Hostname = r.Config.Hostname
		d.Domainname = r.Config.Domainname
		maps.Copy(d.Labels, r.Config.Labels)
	}
	if r.NetworkSettings != nil {
		for name, ep := range r.NetworkSettings.Networks {
			d.Networks[name] = endpoint(ep)
		}
		d.Ports = ports(r.NetworkSettings.Ports)
	}
	return d, nil
}

// watchedEvents are the event actions after which a name may resolve
// differently: the container set changes (start, die; stop and kill come
// with a die, restart with die and start, but asking for them costs
// nothing and guards against daemons that differ), a name changes (rename),
// a container disappears (destroy), it stops or resumes answering (pause,
// unpause), or an endpoint comes or goes (network connect, disconnect).
var watchedEvents = []string{
	"start", "restart", "stop", "die", "kill", "rename", "destroy",
	"pause", "unpause", "connect", "disconnect",
}

// Events subscribes to the container and network events that can change
// name resolution. It returns once the daemon has answered the subscription
// (or SubscribeTimeout has passed). Events then arrive on the first channel
// until ctx ends or the stream breaks; the error channel then yields exactly
// one error and both channels are closed. A stream that the daemon ends
// (daemon stopping) yields an error wrapping wire.ErrUnavailable.
//
// When the daemon cannot be reached the error is already on the error
// channel when Events returns, so a caller can tell a refused subscription
// from a live stream without waiting.
func (c *Client) Events(ctx context.Context) (<-chan Event, <-chan error) {
	// The client reports a failed subscription only after it has
	// returned; a ping first makes the common failure, no daemon,
	// synchronous.
	pctx, pcancel := context.WithTimeout(ctx, SubscribeTimeout)
	err := c.Ping(pctx)
	pcancel()
	if err != nil {
		out, outErr := make(chan Event), make(chan error, 1)
		outErr <- fmt.Errorf("docker events: %w", err)
		close(out)
		close(outErr)
		return out, outErr
	}

	args := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("type", string(events.NetworkEventType)))
	for _, a := range watchedEvents {
		args.Add("event", a)
	}

	// The subscription gets a deadline of its own; once the daemon has
	// answered, the stream is bound only by the caller's context.
	sctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(SubscribeTimeout, cancel)
	msgs, errs := c.api.Events(sctx, events.ListOptions{Filters: args})
	timedOut := !timer.Stop()

	out := make(chan Event)
	outErr := make(chan error, 1)
	go func() {
		defer cancel()
		defer close(out)
		defer close(outErr)
		for {
			select {
			case m := <-msgs:
				ev := Event{Type: string(m.Type), Action: string(m.Action), ContainerID: m.Actor.ID}
				if m.Type == events.NetworkEventType {
					ev.ContainerID = m.Actor.Attributes["container"]
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					outErr <- fmt.Errorf("docker events: %w", ctx.Err())
					return
				}
			case err := <-errs:
				switch {
				case ctx.Err() != nil:
					err = fmt.Errorf("docker events: %w", ctx.Err())
				case timedOut:
					err = fmt.Errorf("docker events: %w: no answer to the subscription within %v", wire.ErrUnavailable, SubscribeTimeout)
				case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
					err = fmt.Errorf("docker events: %w: the daemon closed the event stream", wire.ErrUnavailable)
				default:
					err = c.wrap(ctx, "docker events", err)
				}
				outErr <- err
				return
			}
		}
	}()
	return out, outErr
}

// Ping checks that the daemon answers, and negotiates the API version.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.api.Ping(ctx); err != nil {
		return c.wrap(ctx, "ping", err)
	}
	return nil
}

// Version describes the daemon, for diagnostics.
type Version struct {
	Version       string // engine version, e.g. 20.10.24+dfsg1
	APIVersion    string // highest API version the daemon speaks
	MinAPIVersion string
	OS, Arch      string
}

// ServerVersion asks the daemon who it is.
func (c *Client) ServerVersion(ctx context.Context) (Version, error) {
	v, err := c.api.ServerVersion(ctx)
	if err != nil {
		return Version{}, c.wrap(ctx, "server version", err)
	}
	return Version{Version: v.Version, APIVersion: v.APIVersion, MinAPIVersion: v.MinAPIVersion, OS: v.Os, Arch: v.Arch}, nil
}

// wrap turns a client error into one of the package's error kinds (see the
// package comment). The client's own messages are capitalised sentences
// with advice for CLI users; we keep the cause but lead with what failed.
func (c *Client) wrap(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cause := ctx.Err()
		if cause == nil {
			cause = err
		}
		return fmt.Errorf("%s: %w", op, cause)
	}
	if e := c.explainSSH(op, err); e != nil {
		return e
	}
	if client.IsErrConnectionFailed(err) {
		// The client reports a refused or missing socket without its
		// cause, and a permission problem with a long advice text.
		msg := err.Error()
		switch {
		case strings.Contains(msg, "permission denied"):
			return fmt.Errorf("%s: %w: permission denied on the docker socket %s", op, wire.ErrUnavailable, c.Host())
		case strings.HasPrefix(msg, "Cannot connect"):
			return fmt.Errorf("%s: %w: cannot connect to the docker daemon at %s; is it running?", op, wire.ErrUnavailable, c.Host())
		}
		return fmt.Errorf("%s: %w: cannot connect to the docker daemon at %s: %v", op, wire.ErrUnavailable, c.Host(), err)
	}
	return fmt.Errorf("%s: %w: %v", op, wire.ErrUnavailable, err)
}

// primaryName picks the container's own name from the list's Names, which
// also carries legacy link names of the form /other/alias.
func primaryName(names []string) string {
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

func endpoint(ep *network.EndpointSettings) Endpoint {
	if ep == nil {
		return Endpoint{}
	}
	e := Endpoint{EndpointID: ep.EndpointID, Aliases: ep.Aliases, DNSNames: ep.DNSNames}
	// An unparsable address is treated as none: the daemon writes these,
	// and "" is the common case.
	if a, err := netip.ParseAddr(ep.IPAddress); err == nil && a.Is4() {
		e.IPv4 = a
	}
	if a, err := netip.ParseAddr(ep.GlobalIPv6Address); err == nil && a.Is6() {
		e.IPv6 = a
	}
	return e
}

// Port is one binding of a container port published on the daemon's host
// (docker run -p). A container port published on several host addresses
// (0.0.0.0 and ::, by default) gives one Port per binding.
type Port struct {
	Private  uint16 // the container-side port
	Proto    string // "tcp", "udp", "sctp"
	HostIP   netip.Addr
	HostPort uint16
}

// ports flattens an inspect's NetworkSettings.Ports. Exposed but
// unpublished ports (no bindings) and bindings the daemon has not given a
// host port yet are left out. An empty HostIP is read as 0.0.0.0, as the
// daemon means it; sorted by private port, protocol, then host address.
func ports(pm nat.PortMap) []Port {
	var out []Port
	for p, bs := range pm {
		private, err := strconv.ParseUint(p.Port(), 10, 16)
		if err != nil {
			continue
		}
		for _, b := range bs {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || hp == 0 {
				continue
			}
			ip := netip.IPv4Unspecified()
			if b.HostIP != "" {
				if ip, err = netip.ParseAddr(b.HostIP); err != nil {
					continue
				}
			}
			out = append(out, Port{Private: uint16(private), Proto: p.Proto(), HostIP: ip.Unmap(), HostPort: uint16(hp)})
		}
	}
	slices.SortFunc(out, func(a, b Port) int {
		if a.Private != b.Private {
			return int(a.Private) - int(b.Private)
		}
		if c := strings.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		return a.HostIP.Compare(b.HostIP)
	})
	return out
}

// Info describes the daemon's kind: whether its container addresses can
// be routable from the machine it runs on.
type Info struct {
	Name            string   // the daemon host's name
	OperatingSystem string   // "Debian GNU/Linux 12 (bookworm)", "Docker Desktop", ...
	SecurityOptions []string // "name=rootless" for a rootless daemon
}

// Rootless reports whether the daemon runs rootless, its container
// network inside a namespace of its own.
func (i Info) Rootless() bool {
	return slices.Contains(i.SecurityOptions, "name=rootless")
}

// Desktop reports whether the daemon is Docker Desktop's, inside a VM.
func (i Info) Desktop() bool {
	return strings.Contains(i.OperatingSystem, "Docker Desktop")
}

// Info asks the daemon what kind it is (GET /info).
func (c *Client) Info(ctx context.Context) (Info, error) {
	i, err := c.api.Info(ctx)
	if err != nil {
		return Info{}, c.wrap(ctx, "docker info", err)
	}
	return Info{Name: i.Name, OperatingSystem: i.OperatingSystem, SecurityOptions: i.SecurityOptions}, nil
}
