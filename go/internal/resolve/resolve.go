// Package resolve turns a host name into the address of the running Docker
// container it designates.
//
// # Names
//
// A host name is compared case-insensitively, without a trailing dot,
// against every running container (paused ones excluded: their nodes cannot
// answer). It designates a container if it is
//
//   - the container name (web),
//   - its hostname (by default the first 12 hex digits of its ID), or
//     hostname.domainname when a domain name is set,
//   - its full ID, or an ID prefix of at least MinIDPrefix (4) hex digits,
//   - its compose service name (label com.docker.compose.service),
//   - a network alias, or a DNS name of one of its endpoints (DNSNames,
//     API 1.44 and later; before that, the daemon lists the short ID and the
//     hostname among the aliases of user-defined networks instead).
//
// ID prefixes shorter than four digits do not count: short hex strings are
// ordinary words and hostnames ("abc", "f00"), and would make such names
// ambiguous by chance.
//
// Every container that answers to the name by any of these forms is
// collected. Exactly one: that is the answer. None: wire.ErrNotFound.
// Several: a *wire.AmbiguousError that names them all ("name (shortid)");
// the resolver never guesses between two nodes. One case is not a guess
// and is let through: a container on another's network stack (--network
// container:X, as debugging tools are attached) inherits X's hostname and
// answers at X's address, so it does not compete with X.
//
// # Networks
//
// The address of a container on several networks is chosen thus:
//
//  1. A container using the host's network stack (--network host) resolves
//     to 127.0.0.1 or ::1. One sharing another container's stack
//     (--network container:X) resolves like X.
//  2. If the name matched only as a network alias or DNS name, only the
//     networks where it is one are considered: an alias means something on
//     its own network. (A name that is also the hostname, container name,
//     ID or service is not network-scoped; this matters because the daemon
//     itself lists hostname and short ID as aliases, or DNS names, on every
//     user-defined network.)
//  3. Among the networks considered, the configured network
//     (EPMD_DOCKER_NETWORK) if the container has an address of the wanted
//     family there;
//  4. otherwise the first network, sorted by name, with an address of the
//     family: IPAddress for inet, GlobalIPv6Address for inet6.
//  5. None: wire.ErrNoAddress.
//
// # Caching and events
//
// Answers, positive or not, are cached per (name, family): found addresses
// for Config.TTL, and "not found", "no address" and "ambiguous" for
// Config.NegativeTTL. Failures (Docker unreachable, timeouts) are never
// cached. Answers are cached only while Watch holds an event stream open:
// every event that can change an answer empties the answer cache, so an
// address is never served after its container stopped, even if another
// container has since taken it over; with the stream down nobody would
// notice such changes, so every lookup then asks Docker.
//
// # The container set
//
// While the stream is open the resolver also keeps the set of running
// containers, so that a lookup that misses the answer cache is matched in
// memory instead of asking Docker. The set comes from a round (one
// container list, plus an inspect of each container not seen before), and
// is patched by events: an event empties the answer caches and takes its
// container out of the set at once; an inspect then puts it back if it is
// running. Nothing waits for that inspect, which the daemon holds up while
// a container is starting or stopping: until it is in, names of that
// container are not found in the set, and so are looked up with a round. A
// round runs as soon as the stream opens, and again every TTL/2; a round
// during which events came in still renews the set, keeping the set's own
// entries for the containers those events named. A set older than the TTL
// is not used: the TTL bounds the staleness of a missed event for the set
// as it does for answers.
//
// The set answers only when it finds exactly one container. "Not found",
// "ambiguous" and "no address" are always checked with a round, since a
// container may have started an instant ago, its event still on the way;
// so a name that is no container's (an ordinary host) costs a list, once
// per NegativeTTL.
//
// A round costs one container list request plus matching in memory: what
// only an inspect can tell (hostname, aliases) is kept per container ID, and
// checked against the endpoint IDs in each new list, so only containers not
// seen before are inspected, concurrently. Concurrent misses share one
// round. Without an event stream, or with the TTL disabled, every lookup
// runs one. The daemon answers the inspect of a container that is starting
// or stopping only when that is over, which for a stop can take seconds: an
// inspect that has not answered within a second is given up, and that
// container is matched by what the list says alone (name, ID, compose
// service, addresses; no custom hostname, no aliases) until an event about
// it, or for a few seconds. Nothing such a round finds is cached.
package resolve

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// API is the part of the Docker Engine API the resolver uses;
// *docker.Client implements it.
type API interface {
	ListRunning(ctx context.Context) ([]docker.Container, error)
	Inspect(ctx context.Context, id string) (docker.Details, error)
	Events(ctx context.Context) (<-chan docker.Event, <-chan error)
}

// Defaults for Config.
const (
	DefaultTTL         = 30 * time.Second
	DefaultNegativeTTL = 2 * time.Second
)

// Config tunes a Resolver. The zero value is usable.
type Config struct {
	// Network is the preferred network for containers on several
	// (EPMD_DOCKER_NETWORK); "" for none.
	Network string
	// TTL is how long a found address is cached. Zero means DefaultTTL;
	// negative disables the cache.
	TTL time.Duration
	// NegativeTTL is how long "not found", "no address" and "ambiguous"
	// are cached. Zero means DefaultNegativeTTL; negative disables it.
	NegativeTTL time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Environment variables read by ConfigFromEnv.
const (
	EnvNetwork     = "EPMD_DOCKER_NETWORK"
	EnvTTL         = "EPMD_DOCKER_TTL"
	EnvNegativeTTL = "EPMD_DOCKER_NEGATIVE_TTL"
)

// ConfigFromEnv reads EPMD_DOCKER_NETWORK, EPMD_DOCKER_TTL and
// EPMD_DOCKER_NEGATIVE_TTL. The TTLs are Go durations ("30s", "500ms");
// unset or empty means the default, "0" disables that cache. The Logger is
// left nil for the caller to set.
func ConfigFromEnv() (Config, error) {
	cfg := Config{Network: os.Getenv(EnvNetwork)}
	var err error
	if cfg.TTL, err = envDuration(EnvTTL); err != nil {
		return Config{}, err
	}
	if cfg.NegativeTTL, err = envDuration(EnvNegativeTTL); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func envDuration(name string) (time.Duration, error) {
	s := strings.TrimSpace(os.Getenv(name))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a duration such as 30s or 500ms", name, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s=%q: must not be negative", name, s)
	}
	if d == 0 {
		return -1, nil // Config's spelling of "no cache"
	}
	return d, nil
}

// Cache sizes. Entries are small; the bounds only stop a flood of made-up
// names, or of short-lived containers, from growing memory without end.
const (
	answerCacheSize  = 4096
	detailsCacheSize = 4096
	// detailsTTL bounds how long the inspect results of a container are
	// kept. They cannot go stale (each is checked against the endpoint
	// IDs of the current list, and events drop them), so this only
	// reclaims containers that vanished while the event stream was down.
	detailsTTL = 10 * time.Minute
	// fetchTimeout is the deadline of a shared list-and-inspect round:
	// it is not bound to the lookup that started it, since others wait
	// on it too. Each lookup still gives up at its own deadline.
	fetchTimeout = 10 * time.Second
	// inspectConcurrency bounds the inspects in flight in one round, so
	// that a cold start with hundreds of containers does not open
	// hundreds of connections to the daemon.
	inspectConcurrency = 8
	// inspectTimeout bounds one inspect in a round. The daemon answers
	// the inspect of a container that is starting or stopping only when
	// that is over; a round does not wait that long for one container.
	inspectTimeout = time.Second
	// minSweptTTL is the shortest TTL given to an expirable LRU, whose
	// sweeper wakes up every TTL/100.
	minSweptTTL = 30 * time.Second
	// stuckTTL is how long rounds match a container whose inspect timed
	// out by the list alone, without trying again (an event about it
	// ends that sooner): a stop can take ten seconds, and each lookup
	// meanwhile would wait inspectTimeout.
	stuckTTL = 5 * time.Second
)

// Resolver answers host names with container addresses. It is safe for
// concurrent use. Call Watch in a goroutine to enable caching.
type Resolver struct {
	api     API
	network string
	log     *slog.Logger

	answers   *expirable.LRU[key, positive] // nil when disabled
	negatives *expirable.LRU[key, negative] // nil when disabled
	nttl      time.Duration
	details   *expirable.LRU[string, docker.Details]
	ttl       time.Duration // of answers and the container set; 0 when disabled

	mu sync.Mutex
	// gen counts invalidations. A round records gen when it starts, and
	// its answers are cached only if gen has not moved by the time they
	// are ready: an event seen meanwhile may mean the list was already
	// stale.
	gen    uint64
	live   bool   // an event stream is open
	flight *round // the round in progress, if any
	// opening is closed when Watch's first subscription is answered or
	// refused; nil when there is none to wait for (see awaitStream).
	opening chan struct{}
	// view is the container set (see the package comment); nil when
	// there is none to trust. pending holds the containers taken out of
	// it by an event whose patch is not in yet.
	view       *view
	pending    map[string]*pend
	patchSlots chan struct{}
	// touches records the last events, so that a round that ran while
	// some came in can still become the container set.
	touches []touch
	// stuck holds the containers whose inspect timed out, until when
	// rounds match them by the list alone. A map, not an expirable LRU:
	// that would wake up every stuckTTL/100 to sweep, for a set that is
	// nearly always empty.
	stuck map[string]time.Time

	// Pushes (push.go): the answers given since the stream came up,
	// whether more were given than served holds, the pushes not yet
	// handed on and the signal that there are some (nil: nobody to push
	// to), whether {stream, up} was pushed, and the generation at which
	// the stream last came up.
	served     map[key]served
	servedLost bool
	pushQ      []queued
	pushSig    chan struct{}
	announced  bool
	liveGen    uint64

	rounds  atomic.Int64 // rounds run, for tests and diagnostics
	handled atomic.Int64 // events handled, likewise
	patched atomic.Int64 // patches done (or given up), likewise
}

type key struct {
	host string
	fam  wire.Family
}

// positive is a cached answer, negative a cached "not found", "no
// address" or "ambiguous". Each carries its own expiry: see New.
type (
	positive struct {
		m     Match
		until time.Time
	}
	negative struct {
		err   error
		until time.Time
	}
)

// addAnswer caches m, if answers are cached, and records it as given.
// r.mu must be held.
func (r *Resolver) addAnswer(k key, m Match) {
	r.serveLocked(k, m)
	if r.answers != nil {
		r.answers.Add(k, positive{m, time.Now().Add(r.ttl)})
	}
}

// Match is a resolved name: the container found, with what Docker says
// about it (addresses per network, port bindings, labels), from which
// package reach tells how it is reached, and the details a person needs to
// see why.
type Match struct {
	// Addr is the container's own address of the family asked for, on
	// Network (see the package comment).
	Addr netip.Addr
	// Container is the container found; Container.Addr equals Addr.
	Container wire.Container
	// Network is the network whose address was chosen ("host" for a
	// container on the host's network stack).
	Network string
	// Forms lists every form by which the name designates the container.
	Forms []Form
	// Networks are all the container's networks, sorted by name (for
	// one on another's stack, that container's).
	Networks []Network
	// Ports are its published bindings, Labels its labels. Shared with
	// the resolver: read only.
	Ports  []docker.Port
	Labels map[string]string
}

// Network is one network of a matched container and its addresses there.
type Network struct {
	Name       string
	IPv4, IPv6 netip.Addr // zero when it has none of that family
}

// New returns a Resolver that reads from api.
func New(api API, cfg Config) *Resolver {
	r := &Resolver{api: api, network: cfg.Network, log: cfg.Logger,
		pending: map[string]*pend{}, stuck: map[string]time.Time{}, patchSlots: make(chan struct{}, patchConcurrency),
		served: map[key]served{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	ttl, nttl := cfg.TTL, cfg.NegativeTTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if nttl == 0 {
		nttl = DefaultNegativeTTL
	}
	// An expirable LRU sweeps every TTL/100: every 20 ms for the
	// default NegativeTTL, which alone cost an idle helper a percent of
	// a core. Entries carry their own expiry instead, and the LRUs keep
	// them a little longer (at least minSweptTTL).
	if ttl > 0 {
		r.answers = expirable.NewLRU[key, positive](answerCacheSize, nil, max(ttl, minSweptTTL))
		r.ttl = ttl
	}
	if nttl > 0 {
		r.negatives = expirable.NewLRU[key, negative](answerCacheSize, nil, max(nttl, minSweptTTL))
		r.nttl = nttl
	}
	r.details = expirable.NewLRU[string, docker.Details](detailsCacheSize, nil, detailsTTL)

	return r
}

// Resolve returns the address of family fam of the running container that
// host designates. Errors wrap wire.ErrNotFound, wire.ErrNoAddress or
// wire.ErrUnavailable, or are a *wire.AmbiguousError; they wrap the
// context's error when ctx ends first (or Docker does not answer in time),
// and wire.ErrBadHost or wire.ErrBadRequest for an empty host or a family
// that is neither inet nor inet6.
func (r *Resolver) Resolve(ctx context.Context, host string, fam wire.Family) (netip.Addr, error) {
	m, err := r.Lookup(ctx, host, fam)
	if err != nil {
		return netip.Addr{}, err
	}
	return m.Addr, nil
}

// Lookup is Resolve with the details of the match.
func (r *Resolver) Lookup(ctx context.Context, host string, fam wire.Family) (Match, error) {
	k, err := newKey(host, fam)
	if err != nil {
		return Match{}, err
	}
	if m, ok, err := r.peek(k, host); ok {
		return m, err
	}

	rd, err := r.fetch(ctx)
	if err != nil {
		return Match{}, fmt.Errorf("resolve %q: %w", host, err)
	}
	m, err := r.answer(rd.cands, k, host)
	switch {
	case rd.partial:
		// Not cached: a container was matched without its names.
		if err == nil {
			r.serve(k, m)
		}
	case err == nil:
		r.store(rd.gen, func() {
			r.addAnswer(k, m)
		})
		r.serve(k, m)
		m.Forms = slices.Clone(m.Forms)
	case r.negatives != nil:
		r.store(rd.gen, func() { r.negatives.Add(k, negative{err, time.Now().Add(r.nttl)}) })
	}
	r.log.Debug("resolve", "host", host, "family", fam, "addr", m.Addr, "err", err)
	return m, err
}

// Peek answers like Lookup from what the resolver holds in memory (the
// answer caches, then the container set), without asking Docker and so
// without waiting; answered is false when only a round can tell, and the
// caller should then call Lookup. It lets a caller that serves many
// requests answer the common case where the request arrives, and give
// only the rest a goroutine of their own.
func (r *Resolver) Peek(host string, fam wire.Family) (m Match, answered bool, err error) {
	k, err := newKey(host, fam)
	if err != nil {
		return Match{}, true, err
	}
	return r.peek(k, host)
}

func newKey(host string, fam wire.Family) (key, error) {
	k := key{normalize(host), fam}
	if k.host == "" {
		return key{}, fmt.Errorf("resolve %q: %w", host, wire.ErrBadHost)
	}
	if fam != wire.Inet && fam != wire.Inet6 {
		return key{}, fmt.Errorf("resolve %q: family %v: %w", host, fam, wire.ErrBadRequest)
	}
	return k, nil
}

// normalize folds a host name to the form it is matched and cached under:
// case-insensitive, as DNS names are, with the root's trailing dot dropped.
func normalize(host string) string {
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// peek answers k from memory, if it can.
func (r *Resolver) peek(k key, given string) (Match, bool, error) {
	// The caches are empty whenever they must not be used (no event
	// stream), so a hit needs no further check.
	if r.answers != nil {
		if p, ok := r.answers.Get(k); ok && time.Now().Before(p.until) {
			m := p.m
			m.Forms = slices.Clone(m.Forms)
			return m, true, nil
		}
	}
	if r.negatives != nil {
		if n, ok := r.negatives.Get(k); ok && time.Now().Before(n.until) {
			return Match{}, true, n.err
		}
	}
	if m, ok := r.fromView(k, given); ok {
		return m, true, nil
	}
	return Match{}, false, nil
}

// answer resolves k against a list of candidates.
func (r *Resolver) answer(cands []candidate, k key, given string) (Match, error) {
	h, err := find(cands, k.host, given)
	if err != nil {
		return Match{}, err
	}
	network, addr, ok := choose(h, k.fam, r.network)
	if !ok {
		return Match{}, fmt.Errorf("resolve %q as %v: %w (container %s, %s)",
			given, k.fam, wire.ErrNoAddress, h.c.name, shortID(h.c.id))
	}
	return matchOf(h, network, addr), nil
}

// matchOf is the Match of hit h, at addr on network.
func matchOf(h hit, network string, addr netip.Addr) Match {
	nets := make([]Network, len(h.c.networks))
	for i, e := range h.c.networks {
		nets[i] = Network{Name: e.network, IPv4: e.ipv4, IPv6: e.ipv6}
	}
	return Match{
		Addr:      addr,
		Container: wire.Container{ID: h.c.id, Name: h.c.name, Hostname: h.c.hostname, Addr: addr},
		Network:   network,
		Forms:     h.forms,
		Networks:  nets,
		Ports:     h.c.ports,
		Labels:    h.c.labels,
	}
}

func (r *Resolver) purgeAnswersLocked() {
	if r.answers != nil {
		r.answers.Purge()
	}
	if r.negatives != nil {
		r.negatives.Purge()
	}
}

// store runs add, which caches an answer computed from the round of
// generation gen, unless the answer may be stale or caching is off.
func (r *Resolver) store(gen uint64, add func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live && r.gen == gen {
		add()
	}
}

// List returns the running containers, sorted by name, each with the inet
// address that a lookup by its hostname would return (zero if it has none).
// It always asks Docker.
func (r *Resolver) List(ctx context.Context) ([]wire.Container, error) {
	ms, err := r.Running(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Container, len(ms))
	for i, m := range ms {
		out[i] = m.Container
	}
	return out, nil
}

// Running returns every running container, sorted by name, as a lookup of
// its hostname for inet would match it (Addr zero if it has none; Forms
// empty). It always asks Docker.
func (r *Resolver) Running(ctx context.Context) ([]Match, error) {
	rd, err := r.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Match, 0, len(rd.cands))
	for i := range rd.cands {
		h := hit{c: &rd.cands[i], forms: []Form{FormHostname}}
		network, addr, _ := choose(h, wire.Inet, r.network)
		m := matchOf(h, network, addr)
		m.Forms = nil
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Match) int { return strings.Compare(a.Container.Name, b.Container.Name) })
	return out, nil
}

// invalidate empties the answer caches, and forgets the inspect results of
// container id ("" for none, all for all); all also drops the container
// set. A single container's entry in the set is patched by the event
// handler, not here.
func (r *Resolver) invalidate(id string, all bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidateLocked(id, all)
}

func (r *Resolver) invalidateLocked(id string, all bool) {
	r.gen++
	r.touch(id, all)
	r.flight = nil // a round in progress may have listed before the change
	if all {
		r.view = nil
		clear(r.pending)
	}
	r.purgeAnswersLocked()
	switch {
	case all:
		r.details.Purge()
		clear(r.stuck)
	case id != "":
		r.details.Remove(id)
		delete(r.stuck, id)
	}
}
