package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/ssh"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

const doctorHelp = `Usage: epmd-docker doctor [--json]

Checks what epmd_docker needs, one line per check, and says what to do
about each failure:

  docker reachable     the daemon answers where the docker CLI would look
                       (DOCKER_HOST, DOCKER_CONTEXT, the current context of
                       config.json, or the default socket), and which of
                       these chose it; a permission error gets the
                       docker-group hint
  api version          the API version negotiated with the daemon
  daemon kind          local, or Docker Desktop, rootless or remote, whose
                       container addresses are not routable from here
  container addresses  this host reaches the running containers' addresses
  epmd in containers   containers that run Erlang answer on epmd's port
  erl                  erl is on PATH, and its OTP version
  erlang library       epmd_docker's ebin beside this program, and the
                       helper the Erlang side starts, found by a real erl
  kubernetes context   with a kubeconfig (KUBECONFIG, else ~/.kube/config):
                       its current context, namespace and API server
  kubernetes api       the API server answers, and its version
  kubernetes access    the RBAC permissions used, asked of the API server
                       (SelfSubjectAccessReview): get, list and watch on
                       pods, create on pods/portforward, get on secrets
                       (for --cookie-from-container only)
  kubernetes reach     pods dialled at their addresses or through
                       port-forwards (EPMD_DOCKER_KUBE_REACH)

Flags:
  --json   print the checks as JSON

Exit status: 0 every check passed (warnings allowed); 1 a check failed;
2 usage error; 3 Docker could not be reached.
`

// doctorCmd is `epmd-docker doctor`: why can't I reach a node?
type doctorCmd struct {
	std stdio
}

// check is one line of the doctor's report.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, warn, fail, skip
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// The check statuses. Only fail makes the doctor exit non-zero.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
	statusSkip = "skip"
)

// Bounds of the doctor's probes and its run of erl.
const (
	doctorProbeTimeout = time.Second
	erlTimeout         = 20 * time.Second
	pingTimeout        = 5 * time.Second
)

// minOTP is the oldest OTP release epmd_docker supports (rebar.config's
// minimum_otp_vsn); before 24.2 inet_tcp_dist:select/1 does not consult the
// epmd module, and -proto_dist epmd_docker is needed.
const minOTP = 23

func (c *doctorCmd) run(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("doctor", flag.ContinueOnError)
	asJSON := fset.Bool("json", false, "")
	pos, rest, err := parseFlags(fset, "doctor", doctorHelp, c.std.out, args)
	if err != nil {
		return err
	}
	if len(pos)+len(rest) > 0 {
		return cmdUsageError("doctor", "takes no arguments")
	}

	d := &doctor{log: c.std.err}
	checks, dockerDown := d.run(ctx)
	checks = append(checks, kubeChecks(ctx, newLogger(c.std.err))...)

	failed := slices.ContainsFunc(checks, func(ch check) bool { return ch.Status == statusFail })
	if *asJSON {
		if err := cli.JSON(c.std.out, struct {
			OK     bool    `json:"ok"`
			Checks []check `json:"checks"`
		}{!failed, checks}); err != nil {
			return err
		}
	} else {
		color := cli.ColorFor(c.std.out)
		t := cli.Table{Color: color}
		for _, ch := range checks {
			detail := ch.Detail
			if ch.Fix != "" {
				detail += "\nfix: " + ch.Fix
			}
			t.AddCells(cli.Cell{Text: ch.Status, Color: statusColor(ch.Status)}, cli.Cell{Text: ch.Name}, cli.Cell{Text: detail})
		}
		if _, err := t.WriteTo(c.std.out); err != nil {
			return err
		}
	}
	switch {
	case dockerDown:
		return errQuietUnavailable
	case failed:
		return errQuiet
	}
	return nil
}

func statusColor(s string) cli.Color {
	switch s {
	case statusOK:
		return cli.Green
	case statusWarn:
		return cli.Yellow
	case statusFail:
		return cli.Red
	}
	return cli.Dim
}

// doctor runs the checks.
type doctor struct {
	log     io.Writer      // diagnostics
	decider *reach.Decider // how containers are reached, as port mode decides it
}

// run returns the checks in order, and whether Docker was unreachable.
func (d *doctor) run(ctx context.Context) (checks []check, dockerDown bool) {
	api, r, err := newDocker(newLogger(d.log))
	if err != nil {
		return append([]check{{Name: "docker reachable", Status: statusFail, Detail: err.Error(),
				Fix: "fix DOCKER_HOST (unix:///var/run/docker.sock, tcp://HOST:2376, ...) or unset it; for a context, see docker context ls and docker context use NAME"}},
				d.localChecks(ctx)...),
			true
	}
	defer api.Close()

	up := d.docker(ctx, api)
	checks = append(checks, up)
	if up.Status == statusFail {
		for _, name := range []string{"api version", "daemon kind", "container addresses", "epmd in containers", "reached via"} {
			checks = append(checks, check{Name: name, Status: statusSkip, Detail: "docker unreachable"})
		}
		return append(checks, d.localChecks(ctx)...), true
	}
	var via check
	if d.decider, err = newDecider(api); err != nil {
		via = check{Name: "reached via", Status: statusFail, Detail: err.Error(), Fix: "set EPMD_DOCKER_MODE to auto, direct or published, or unset it"}
		d.decider = &reach.Decider{Mode: reach.Auto, DockerHost: api.Host(), API: api}
	}
	checks = append(checks, d.apiVersion(ctx, api), d.kind(ctx, api))
	checks = append(checks, d.containers(ctx, api, r)...)
	if via.Name == "" {
		via = d.reachCheck(ctx, r)
	}
	checks = append(checks, via)
	return append(checks, d.localChecks(ctx)...), false
}

// docker checks that the daemon answers.
func (d *doctor) docker(ctx context.Context, api *docker.Client) check {
	ch := check{Name: "docker reachable"}
	where := api.Host() + " (" + api.Daemon().Why() + ")"
	if w := api.Daemon().Warning; w != "" {
		where += "; " + w
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := api.Ping(pctx)
	if err == nil {
		ch.Status, ch.Detail = statusOK, where+" answers"
		if plainTCP(api.Host()) {
			ch.Status, ch.Detail = statusWarn, ch.Detail+", unencrypted: what Docker says (remsh --cookie-from-container: the container's environment, cookies included) crosses the network in the clear"
			ch.Fix = "use TLS (DOCKER_HOST=tcp://HOST:2376 with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH) or ssh://USER@HOST"
		}
		return ch
	}
	ch.Status, ch.Detail = statusFail, where+": "+err.Error()
	msg := err.Error()
	sock := strings.TrimPrefix(api.Host(), "unix://")
	var sshErr *ssh.Error
	switch {
	case errors.As(err, &sshErr):
		// Over SSH: ssh itself, the server's docker CLI, or its daemon.
		ch.Detail, ch.Fix = where+": "+sshErr.Problem(), sshErr.Fix
	case strings.Contains(msg, "permission denied"):
		owner, group := socketOwner(sock)
		ch.Fix = fmt.Sprintf("you may not open %s (%s): add yourself to the %s group (sudo usermod -aG %s $USER, then log in again), or run as root",
			sock, owner, group, group)
	case errors.Is(err, context.DeadlineExceeded):
		ch.Fix = fmt.Sprintf("the daemon did not answer within %v: is it overloaded or hung?", pingTimeout)
	case api.Daemon().Context != docker.DefaultContext:
		// colima, OrbStack, Docker Desktop and friends start their
		// daemon, and its socket, with their VM.
		ch.Fix = "start the daemon of context " + api.Daemon().Context + " (docker context inspect " + api.Daemon().Context + " shows it; for colima: colima start), or choose another with docker context use NAME (docker context ls lists them)"
	case strings.HasPrefix(api.Host(), "unix://"):
		if _, serr := os.Stat(sock); errors.Is(serr, fs.ErrNotExist) {
			ch.Fix = sock + " does not exist: start the daemon (sudo systemctl start docker, or dockerd) or point DOCKER_HOST at it"
		} else {
			ch.Fix = "start the daemon (sudo systemctl start docker, or dockerd) or point DOCKER_HOST at it"
		}
	default:
		ch.Fix = "check that the daemon at DOCKER_HOST runs and is reachable from here"
	}
	return ch
}

// socketOwner describes who may open the socket at path ("root:docker,
// mode 660"), and names its group ("docker" if it cannot tell).
func socketOwner(path string) (desc, group string) {
	group = "docker"
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error(), group
	}
	desc = fmt.Sprintf("mode %o", fi.Mode().Perm())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner := strconv.Itoa(int(st.Uid))
		if u, err := user.LookupId(owner); err == nil {
			owner = u.Username
		}
		g := strconv.Itoa(int(st.Gid))
		if gr, err := user.LookupGroupId(g); err == nil {
			g, group = gr.Name, gr.Name
		}
		desc = owner + ":" + g + ", " + desc
	}
	return desc, group
}

// apiVersion reports the negotiated API version.
func (d *doctor) apiVersion(ctx context.Context, api *docker.Client) check {
	ch := check{Name: "api version"}
	vctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	v, err := api.ServerVersion(vctx)
	if err != nil {
		ch.Status, ch.Detail = statusFail, err.Error()
		ch.Fix = "the daemon answers pings but not version requests: check DOCKER_API_VERSION, or upgrade the daemon"
		return ch
	}
	ch.Status = statusOK
	ch.Detail = fmt.Sprintf("%s negotiated; daemon %s speaks %s (minimum %s), %s/%s", api.APIVersion(), v.Version, v.APIVersion, v.MinAPIVersion, v.OS, v.Arch)
	if pinned := os.Getenv("DOCKER_API_VERSION"); pinned != "" {
		ch.Detail += "; pinned by DOCKER_API_VERSION=" + pinned
	}
	return ch
}

// kind tells a local daemon from one whose container addresses this host
// cannot route to.
func (d *doctor) kind(ctx context.Context, api *docker.Client) check {
	ch := check{Name: "daemon kind", Status: statusOK}
	if conn := api.SSH(); conn != nil {
		ch.Detail = "daemon reached over SSH at " + conn.Server() + ": its containers are reached through SSH tunnels"
		return ch
	}
	// Where container addresses are not routable, epmd_docker uses
	// published ports unless told otherwise: the fix says what that needs,
	// or, in direct mode, what else to do.
	fix := func(direct string) string {
		if d.decider.Mode == reach.Direct {
			return direct + "; or unset " + reach.EnvMode + " (now direct) to use published ports"
		}
		return "epmd_docker dials published distribution ports here: publish each node's (see reached via)"
	}
	if remote, host := remoteDaemon(api.Host()); remote {
		ch.Status = statusWarn
		ch.Detail = "remote daemon at " + host + ": its container addresses are on that host's networks, normally not routable from here"
		ch.Fix = fix("run epmd-docker and the shell on the Docker host itself")
		return ch
	}
	ictx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	info, err := api.Info(ictx)
	switch {
	case err != nil:
		ch.Status, ch.Detail = statusWarn, "cannot tell: "+err.Error()
	case info.Desktop():
		ch.Status = statusWarn
		ch.Detail = "Docker Desktop (" + info.OperatingSystem + "): containers run in a VM whose addresses are not routable from this host"
		ch.Fix = fix("run the shell in a container on the same network (docker run -it --network NET ...), or use Docker Engine on Linux")
	case info.Rootless():
		ch.Status = statusWarn
		ch.Detail = "rootless daemon: its container addresses live in the daemon's own network namespace, not routable from this host"
		ch.Fix = fix("run the shell inside that namespace (nsenter -U -n -t $(cat $XDG_RUNTIME_DIR/docker.pid)) or use a rootful daemon")
	case d.decider.Mode == reach.Auto:
		ch.Detail = "local daemon on " + info.OperatingSystem + ": container addresses are probed per network; where this host does not reach them (colima, Lima, Rancher Desktop, Podman machine), published ports are used"
	default:
		ch.Detail = "local daemon on " + info.OperatingSystem + ": container addresses are used as " + reach.EnvMode + "=" + string(d.decider.Mode) + " says"
	}
	return ch
}

// remoteDaemon reports whether the daemon host is another machine.
func remoteDaemon(host string) (bool, string) {
	u, err := url.Parse(host)
	if err != nil {
		return false, host
	}
	switch u.Scheme {
	case "unix", "npipe", "fd", "":
		return false, host
	}
	h := u.Hostname()
	if h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.") {
		return false, host
	}
	return true, h
}

// containers probes every running container: is its address reachable, and
// does an epmd answer where Erlang runs?
func (d *doctor) containers(ctx context.Context, api *docker.Client, r *resolve.Resolver) []check {
	addrs := check{Name: "container addresses"}
	epmds := check{Name: "epmd in containers"}
	entries, err := listContainers(ctx, api, r, doctorProbeTimeout)
	if err != nil {
		err = unavailable(err)
		addrs.Status, addrs.Detail = statusFail, err.Error()
		epmds.Status, epmds.Detail = statusSkip, "no container list"
		return []check{addrs, epmds}
	}

	// In auto mode a container whose network does not answer from here is
	// reached through its published port: found, but not at its address.
	var notHere map[string]reach.Way
	if d.decider != nil && d.decider.Mode == reach.Auto {
		_, notHere, _ = ways(ctx, d.decider, r)
	}

	var probed, unreachable []string
	var withNodes, silent, empty []string
	var erlangs int
	var wg sync.WaitGroup
	looks := make([]bool, len(entries))
	for i, e := range entries {
		if e.EPMD == epmdOK || e.EPMD == epmdNoAddress {
			continue
		}
		// Only containers whose epmd did not answer need a closer look
		// to tell whether they run Erlang.
		wg.Add(1)
		go func() {
			defer wg.Done()
			looks[i] = runsErlang(ctx, api, e.ID)
		}()
	}
	wg.Wait()
	for i, e := range entries {
		label := fmt.Sprintf("%s (%s) at %s", e.Name, e.ShortID, e.Address)
		if e.EPMD == epmdNoAddress {
			continue
		}
		probed = append(probed, label)
		if e.EPMD == epmdUnreachable || notHere[e.ID].Mode == reach.Published {
			unreachable = append(unreachable, e.ID)
		}
		switch {
		case e.EPMD == epmdOK && len(e.Nodes) > 0:
			erlangs++
			var ns []string
			for _, n := range e.Nodes {
				ns = append(ns, n.Node)
			}
			withNodes = append(withNodes, strings.Join(ns, ", "))
		case e.EPMD == epmdOK:
			erlangs++
			empty = append(empty, label)
		case looks[i]:
			erlangs++
			silent = append(silent, label+" ("+probeWords(e)+")")
		}
	}

	switch {
	case len(probed) == 0:
		addrs.Status, addrs.Detail = statusSkip, "no running container with an address to probe"
	case len(unreachable) == 0:
		addrs.Status, addrs.Detail = statusOK, fmt.Sprintf("%d of %d running containers reachable", len(probed), len(probed))
	default:
		addrs = d.unreachable(ctx, r, entries, unreachable, len(probed))
	}

	switch {
	case erlangs == 0:
		epmds.Status, epmds.Detail = statusSkip, "no running container seems to run Erlang"
	case len(silent) > 0:
		epmds.Status = statusFail
		epmds.Detail = fmt.Sprintf("no epmd answers on port 4369 in %s", listSome(silent, 3))
		epmds.Fix = "start the node with -sname (not -start_epmd false), and let epmd listen on the container's address: unset ERL_EPMD_ADDRESS, keep ERL_EPMD_PORT at 4369"
	case len(empty) > 0:
		epmds.Status = statusWarn
		epmds.Detail = fmt.Sprintf("epmd answers but no node is registered in %s", listSome(empty, 3))
		if len(withNodes) > 0 {
			epmds.Detail += "; nodes elsewhere: " + listSome(withNodes, 5)
		}
	default:
		epmds.Status, epmds.Detail = statusOK, fmt.Sprintf("%d containers answer: %s", erlangs, listSome(withNodes, 5))
	}
	return []check{addrs, epmds}
}

// unreachable is the "container addresses" check when the containers ids
// (of probed) did not answer at their addresses: a warning when the decider
// reaches them through their published ports instead, as port mode does, a
// failure when it does not.
func (d *doctor) unreachable(ctx context.Context, r *resolve.Resolver, entries []containerEntry, ids []string, probed int) check {
	ch := check{Name: "container addresses"}
	var published, stuck []string
	var direct bool
	for _, e := range entries {
		if !slices.Contains(ids, e.ID) {
			continue
		}
		label := fmt.Sprintf("%s (%s) at %s", e.Name, e.ShortID, e.Address)
		m, err := r.Lookup(ctx, e.ID, wire.Inet)
		if err != nil {
			stuck = append(stuck, label+": "+e.EPMDError)
			continue
		}
		w, err := d.decider.Way(ctx, m, wire.Inet)
		switch {
		case err != nil:
			stuck = append(stuck, label+": "+e.EPMDError)
		case w.Mode != reach.Published && w.Addr != m.Addr:
			published = append(published, label+": "+w.Why)
		case w.Mode != reach.Published:
			direct = true
			stuck = append(stuck, label+": "+e.EPMDError)
		case w.Err != nil:
			stuck = append(stuck, label+": "+w.Why+", and "+w.Err.Error())
		default:
			published = append(published, label+": "+w.Why+", published at "+w.Dial.String())
		}
	}
	ch.Detail = fmt.Sprintf("%d of %d running containers not reachable at their addresses", len(ids), probed)
	if len(published) > 0 {
		ch.Detail += "; reached another way instead: " + listSome(published, 3)
	}
	switch {
	case len(stuck) == 0:
		ch.Status = statusWarn
	case direct:
		ch.Status = statusFail
		ch.Detail += "; not reachable: " + listSome(stuck, 3)
		ch.Fix = "this host has no route to those networks: use their published ports (EPMD_DOCKER_MODE=auto or published; see reached via), run the shell on the Docker host, or in a container on the same network"
	default:
		ch.Status = statusFail
		ch.Detail += "; not reachable: " + listSome(stuck, 3)
		ch.Fix = "publish the node's distribution port: run it with -kernel inet_dist_listen_min 9100 inet_dist_listen_max 9100 and -p 127.0.0.1::9100, labelled --label " + reach.DistPortLabel + "=9100 if it publishes other ports"
	}
	return ch
}

// probeWords says for a person what asking e's epmd gave.
func probeWords(e containerEntry) string {
	switch e.EPMD {
	case epmdNone:
		return "connection refused"
	case epmdUnreachable:
		return "no answer"
	}
	return e.EPMDError
}

// listSome joins up to n items, and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %d more", len(items)-n)
}

// erlangWords are programs and image names that say a container runs
// Erlang or Elixir.
var erlangWords = []string{"erl", "erlexec", "beam", "beam.smp", "run_erl", "iex", "elixir", "mix", "rebar3"}

// erlangImages are substrings of image names that say the same.
var erlangImages = []string{"erlang", "elixir", "rabbitmq", "ejabberd", "couchdb", "emqx", "vernemq", "riak"}

// erlangEnv are variables that Erlang releases read.
var erlangEnv = []string{"RELEASE_COOKIE", "RELEASE_NODE", "ERLANG_COOKIE", "ERL_FLAGS", "ERL_AFLAGS", "RELX_REPLACE_OS_VARS"}

// runsErlang guesses from how a container was started whether it runs an
// Erlang node; a wrong guess costs one line in the doctor's report.
func runsErlang(ctx context.Context, api *docker.Client, id string) bool {
	ictx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cfg, err := api.Config(ictx, id)
	if err != nil {
		return false
	}
	for _, a := range cfg.Cmd {
		for _, f := range strings.Fields(a) { // sh -c "erl ..."
			if slices.Contains(erlangWords, filepath.Base(f)) {
				return true
			}
		}
	}
	img := strings.ToLower(cfg.Image)
	for _, w := range erlangImages {
		if strings.Contains(img, w) {
			return true
		}
	}
	_, _, ok := cfg.Lookup(erlangEnv...)
	return ok
}

// localChecks are the checks that need no Docker: erl, and the Erlang side
// of this library.
func (d *doctor) localChecks(ctx context.Context) []check {
	erl := check{Name: "erl"}
	lib := check{Name: "erlang library"}

	l, libErr := findLibrary()
	if libErr != nil {
		lib.Status, lib.Detail = statusFail, libErr.Error()
		lib.Fix = "run `make` in the epmd_docker checkout this program was built in; it builds ebin/ and priv/epmd-docker"
	} else if err := l.checkHelper(); err != nil {
		lib.Status, lib.Detail = statusFail, err.Error()
		lib.Fix = "run `make priv/epmd-docker`, or set EPMD_DOCKER_HELPER to this program"
		libErr = err
	}

	path, err := exec.LookPath("erl")
	if err != nil {
		erl.Status, erl.Detail = statusFail, "erl is not on PATH"
		erl.Fix = "install Erlang/OTP " + strconv.Itoa(minOTP) + " or later (Debian: apt install erlang-nox) and put erl on PATH"
		if libErr == nil {
			lib.Status, lib.Detail = statusWarn, fmt.Sprintf("ebin %s, helper %s (from %s); not tried without erl", l.Ebin, l.Helper, l.HelperFrom)
		}
		return []check{erl, lib}
	}

	ebin := ""
	if libErr == nil {
		ebin = l.Ebin
	}
	res, err := askErlang(ctx, path, ebin)
	if err != nil {
		erl.Status, erl.Detail = statusFail, fmt.Sprintf("%s does not run: %v", path, err)
		erl.Fix = "repair the Erlang installation"
		if libErr == nil {
			lib.Status, lib.Detail = statusWarn, fmt.Sprintf("ebin %s, helper %s; not tried, erl does not run", l.Ebin, l.Helper)
		}
		return []check{erl, lib}
	}
	erl.Status, erl.Detail = statusOK, fmt.Sprintf("%s, OTP %s", path, res.otp)
	switch major, minor := otpVersion(res.otp); {
	case major < minOTP:
		erl.Status = statusFail
		erl.Fix = fmt.Sprintf("epmd_docker needs OTP %d or later", minOTP)
	case major < 24 || major == 24 && minor < 2:
		erl.Status = statusWarn
		erl.Detail += "; before OTP 24.2 distribution also needs -proto_dist epmd_docker"
	}
	if libErr != nil {
		return []check{erl, lib}
	}

	switch {
	case res.containers == "":
		lib.Status, lib.Detail = statusFail, fmt.Sprintf("erl -pa %s cannot load epmd_docker", l.Ebin)
		lib.Fix = "rebuild with `make`; the beams may be from a newer OTP than this erl"
	case strings.HasPrefix(res.containers, "ok"):
		lib.Status = statusOK
		lib.Detail = fmt.Sprintf("ebin %s; the Erlang side started helper %s and listed containers", l.Ebin, orDefault(res.helper, l.Helper))
	case strings.Contains(res.containers, "docker_unavailable"):
		// The helper ran: finding it is this check's business, reaching
		// Docker the first check's.
		lib.Status = statusOK
		lib.Detail = fmt.Sprintf("ebin %s; the Erlang side started helper %s (it cannot reach Docker either)", l.Ebin, orDefault(res.helper, l.Helper))
	default:
		lib.Status = statusFail
		lib.Detail = fmt.Sprintf("ebin %s; the Erlang side could not use helper %s: %s", l.Ebin, l.Helper, res.containers)
		lib.Fix = "run `make priv/epmd-docker`, or set EPMD_DOCKER_HELPER to this program"
	}
	return []check{erl, lib}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// erlangAnswer is what askErlang learnt.
type erlangAnswer struct {
	otp        string // full OTP version, such as 25.3.2
	containers string // "ok N", an error term, or "" when epmd_docker did not load
	helper     string // the helper path the port owner used, if it says
}

// erlangProbe runs in a real erl: the OTP version, then, with ebin on the
// code path, whether epmd_docker can start its helper and list containers
// through it, exactly as a node using -epmd_module epmd_docker would.
const erlangProbe = `
V = case file:read_file(filename:join([code:root_dir(), "releases",
                                       erlang:system_info(otp_release), "OTP_VERSION"])) of
        {ok, B} -> string:trim(B);
        _ -> erlang:system_info(otp_release)
    end,
io:format("otp ~ts~n", [V]),
case code:ensure_loaded(epmd_docker) of
    {module, _} ->
        R = try epmd_docker:containers() of
                {ok, L} -> io_lib:format("ok ~b", [length(L)]);
                Other -> io_lib:format("~0tp", [Other])
            catch C:E -> io_lib:format("~0tp", [{C, E}])
            end,
        io:format("containers ~ts~n", [R]),
        P = try epmd_docker_helper:status(epmd_docker_helper) of
                #{path := Path} when is_list(Path) -> Path;
                _ -> ""
            catch _:_ -> ""
            end,
        io:format("helper ~ts~n", [P]);
    _ ->
        ok
end,
halt().
`

// askErlang runs erlangProbe with erl at path.
func askErlang(ctx context.Context, path, ebin string) (erlangAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, erlTimeout)
	defer cancel()
	args := []string{"-noshell", "-noinput"}
	if ebin != "" {
		args = append(args, "-pa", ebin)
	}
	args = append(args, "-eval", erlangProbe)
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return erlangAnswer{}, err
	}
	var a erlangAnswer
	for _, line := range strings.Split(out.String(), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "otp":
			a.otp = v
		case "containers":
			a.containers = v
		case "helper":
			a.helper = v
		}
	}
	if a.otp == "" {
		return a, fmt.Errorf("no answer to -eval: %s", firstLine(out.String()+errOut.String()))
	}
	return a, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// otpVersion parses "25.3.2" (or a bare "25") into 25 and 3.
func otpVersion(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}
