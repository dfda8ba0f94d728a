package resolve

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Form is a way in which a host name can designate a container.
type Form string

// The name forms, in the order Match.Forms lists them.
const (
	FormName     Form = "name"                // the container name
	FormHostname Form = "hostname"            // Config.Hostname
	FormFQDN     Form = "hostname.domainname" // Config.Hostname + "." + Config.Domainname
	FormID       Form = "id"                  // the full 64-digit ID
	FormIDPrefix Form = "id-prefix"           // a unique ID prefix of at least MinIDPrefix digits
	FormService  Form = "compose-service"     // label com.docker.compose.service
	FormSwarm    Form = "swarm-service"       // label com.docker.swarm.service.name
	FormAlias    Form = "alias"               // a network alias (network-scoped)
	FormDNSName  Form = "dns-name"            // a DNS name of an endpoint, API 1.44+ (network-scoped)
)

// MinIDPrefix is the shortest ID prefix that counts as a name. Shorter hex
// strings are common words and hostnames ("abc", "be", "f00"); letting
// them match one of a few dozen IDs by chance would make ordinary names
// ambiguous. Four digits is git's minimum abbreviation too.
const MinIDPrefix = 4

// ComposeServiceLabel is the label docker compose puts the service name in.
const ComposeServiceLabel = "com.docker.compose.service"

// SwarmServiceLabel is the label Docker Swarm puts a task's service name
// in: the service name matches each of its tasks (an error naming them
// when there are several).
const SwarmServiceLabel = "com.docker.swarm.service.name"

// candidate is a running container as the matcher sees it, networks sorted
// by name.
type candidate struct {
	// As Docker spells them: a node's name must match its hostname
	// exactly, case included, so these are what gets reported.
	id, name, hostname string
	// Lower-cased, for matching.
	lname, lhostname, lfqdn, lservice string
	lswarm                            string // the Swarm service, lower-cased
	networkMode                       string
	networks                          []endpoint
	joins                             string // ID of the container whose network stack it shares
	// What reach needs to tell how the container is reached: its
	// labels from the list (always current), its bindings from the
	// inspect results (fixed while its endpoints are).
	labels map[string]string
	ports  []docker.Port
}

// endpoint is one network of a candidate.
type endpoint struct {
	network    string
	ipv4, ipv6 netip.Addr
	aliases    []string // lower-cased
	dnsNames   []string // lower-cased
}

// newCandidate merges a list entry (current addresses) with inspect details
// (hostname, aliases). Aliases are taken only from a details endpoint with
// the same endpoint ID, so stale details can never lend a name to a new
// attachment.
func newCandidate(c docker.Container, d docker.Details) candidate {
	cd := candidate{
		id:          strings.ToLower(c.ID), // hex; lower already
		name:        c.Name,
		hostname:    d.Hostname,
		lname:       strings.ToLower(c.Name),
		lhostname:   strings.ToLower(d.Hostname),
		lservice:    strings.ToLower(c.Labels[ComposeServiceLabel]),
		lswarm:      strings.ToLower(c.Labels[SwarmServiceLabel]),
		networkMode: c.NetworkMode,
		labels:      c.Labels,
		ports:       d.Ports,
	}
	if d.Hostname != "" && d.Domainname != "" {
		cd.lfqdn = strings.ToLower(d.Hostname + "." + d.Domainname)
	}
	for name, ep := range c.Networks {
		e := endpoint{network: name, ipv4: ep.IPv4, ipv6: ep.IPv6}
		if de, ok := d.Networks[name]; ok && de.EndpointID == ep.EndpointID {
			e.aliases = lower(de.Aliases)
			e.dnsNames = lower(de.DNSNames)
		}
		cd.networks = append(cd.networks, e)
	}
	slices.SortFunc(cd.networks, func(a, b endpoint) int { return strings.Compare(a.network, b.network) })
	return cd
}

// joinNetworks gives containers started with --network container:X the
// addresses of X, whose network stack they share. The list reports no
// networks for them. Aliases stay with X.
func joinNetworks(cands []candidate) {
	for i := range cands {
		ref, ok := strings.CutPrefix(cands[i].networkMode, "container:")
		if !ok {
			continue
		}
		for _, o := range cands {
			if o.id == ref || o.name == ref {
				for _, e := range o.networks {
					cands[i].networks = append(cands[i].networks, endpoint{network: e.network, ipv4: e.ipv4, ipv6: e.ipv6})
				}
				cands[i].networkMode = o.networkMode
				cands[i].joins = o.id
				break
			}
		}
	}
}

func lower(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

// hit is a candidate that answers to a host, with how.
type hit struct {
	c     *candidate
	forms []Form
	// aliasNets are the networks on which host is an alias or DNS name.
	aliasNets []string
}

// scoped reports whether host named the container only through
// network-scoped names, in which case the address must come from one of
// those networks.
func (h hit) scoped() bool {
	for _, f := range h.forms {
		if f != FormAlias && f != FormDNSName {
			return false
		}
	}
	return true
}

// match returns the forms by which host (normalized) designates c, and the
// networks of any alias or DNS-name match; no forms means no match.
func (c *candidate) match(host string) hit {
	h := hit{c: c}
	add := func(ok bool, f Form) {
		if ok {
			h.forms = append(h.forms, f)
		}
	}
	add(host == c.lname, FormName)
	add(c.lhostname != "" && host == c.lhostname, FormHostname)
	add(c.lfqdn != "" && host == c.lfqdn, FormFQDN)
	add(host == c.id, FormID)
	add(host != c.id && len(host) >= MinIDPrefix && isHex(host) && strings.HasPrefix(c.id, host), FormIDPrefix)
	add(c.lservice != "" && host == c.lservice, FormService)
	add(c.lswarm != "" && host == c.lswarm, FormSwarm)
	var alias, dns bool
	for _, e := range c.networks {
		a, d := slices.Contains(e.aliases, host), slices.Contains(e.dnsNames, host)
		if a || d {
			h.aliasNets = append(h.aliasNets, e.network)
		}
		alias, dns = alias || a, dns || d
	}
	add(alias, FormAlias)
	add(dns, FormDNSName)
	return h
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// find returns the one candidate that answers to host, wire.ErrNotFound if
// none does, and a *wire.AmbiguousError if several do: a name that could
// mean two nodes is reported, never guessed.
func find(cands []candidate, host, given string) (hit, error) {
	var hits []hit
	for i := range cands {
		if h := cands[i].match(host); len(h.forms) > 0 {
			hits = append(hits, h)
		}
	}
	// A container on another's network stack (--network container:X)
	// also takes X's hostname, and answers at X's address: when X itself
	// matches, it is no rival. Debugging tools are commonly attached to
	// a node's container this way, and must not make its name ambiguous.
	ids := map[string]bool{}
	for _, h := range hits {
		ids[h.c.id] = true
	}
	hits = slices.DeleteFunc(hits, func(h hit) bool { return h.c.joins != "" && ids[h.c.joins] })

	switch len(hits) {
	case 0:
		return hit{}, fmt.Errorf("resolve %q: %w", given, wire.ErrNotFound)
	case 1:
		return hits[0], nil
	}
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = fmt.Sprintf("%s (%s)", h.c.name, shortID(h.c.id))
	}
	slices.Sort(names)
	return hit{}, &wire.AmbiguousError{Host: given, Candidates: names}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Loopback addresses answer for containers on the host's network stack.
var (
	loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	loopback6 = netip.IPv6Loopback()
)

// hostNetwork is the network name reported for host-networked containers.
const hostNetwork = "host"

// choose picks the network, and its address of family fam, for a matched
// container; the rules are in the package comment. preferred is the
// configured network ("" for none).
func choose(h hit, fam wire.Family, preferred string) (string, netip.Addr, bool) {
	c := h.c
	if c.networkMode == hostNetwork {
		if fam == wire.Inet6 {
			return hostNetwork, loopback6, true
		}
		return hostNetwork, loopback4, true
	}
	addr := func(e endpoint) netip.Addr {
		if fam == wire.Inet6 {
			return e.ipv6
		}
		return e.ipv4
	}
	pool := c.networks
	if h.scoped() {
		pool = nil
		for _, e := range c.networks {
			if slices.Contains(h.aliasNets, e.network) {
				pool = append(pool, e)
			}
		}
	}
	if preferred != "" {
		for _, e := range pool {
			if e.network == preferred && addr(e).IsValid() {
				return e.network, addr(e), true
			}
		}
	}
	for _, e := range pool { // sorted by network name
		if addr(e).IsValid() {
			return e.network, addr(e), true
		}
	}
	return "", netip.Addr{}, false
}
