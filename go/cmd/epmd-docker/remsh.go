package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
	"github.com/epmd-docker/epmd_docker/go/internal/discover"
	"github.com/epmd-docker/epmd_docker/go/internal/dist"
	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/reach"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

const remshHelp = `Usage: epmd-docker remsh TARGET [flags] [-- ERL_ARGS...]

Opens a remote shell on an Erlang node in a container. TARGET is anything
resolve accepts (container name, hostname, ID or ID prefix, network alias,
compose service; or, with a kubeconfig, a pod: POD, POD.NAMESPACE, its DNS
name), optionally with a node name: node@TARGET. Without one,
the epmd in the container is asked: its only node is used; among several,
you are asked which (an error listing them when stdin is not a terminal).

Before erl starts, the opening of a distribution handshake asks the node
its exact name and checks the cookie (by digest, as erl does: the cookie
never crosses the wire), so that a wrong cookie is an error here rather
than a dead shell. Then this runs, with the node's own name:

  erl -pa EBIN -start_epmd false -epmd_module epmd_docker -hidden \
      -sname remsh-XXXXXXXX -remsh NODE [ERL_ARGS...]

or, with --iex, iex --sname remsh-XXXXXXXX --hidden --remsh NODE
--erl "-pa EBIN -start_epmd false -epmd_module epmd_docker". EBIN is
epmd_docker's ebin beside this program (ROOT/ebin for ROOT/priv/epmd-docker,
or ROOT/_build/default/lib/epmd_docker/ebin).

Flags:
  --cookie C                the cookie (see below: prefer ERLANG_COOKIE)
  --cookie-from-container   the container's RELEASE_COOKIE or ERLANG_COOKIE,
                            or the -setcookie in its command line; for a
                            pod, the same in its spec, a value or from a
                            Secret (valueFrom.secretKeyRef: the Secret is
                            read, which needs get on secrets)
  --iex                     start iex instead of erl (the node must have
                            Elixir on its code path)
  --dry-run                 check everything, print the command, run nothing

Without a terminal (stdin not one: input piped in, a script, cron), erl
would ignore -remsh and run a local shell, and OTP 26 to 27.3.4 could stop
the remote node when the input ends (erlang/otp#9852). So remsh then
evaluates the input on the node instead, exactly as epmd-docker eval
TARGET - does, with eval's output and exit statuses; a note on stderr says
so. With stdin a terminal but stdout not (remsh | tee log), it refuses.

The cookie is --cookie (the last one, if given more than once), else
--cookie-from-container, else $ERLANG_COOKIE, else ~/.erlang.cookie (or
$XDG_CONFIG_HOME/erlang/.erlang.cookie, as erl reads them). It is never
printed and never on erl's command line: erl copies -setcookie, and the
contents of ERL_FLAGS and of -args_file files, into the emulator's
arguments, which every user can read with ps. Instead erl runs with HOME
set to a private directory (mode 0700, under $XDG_RUNTIME_DIR or the
temporary directory) holding .erlang.cookie (mode 0400), with
XDG_CONFIG_HOME and XDG_CACHE_HOME still pointing at yours. The file and
the directory are removed as soon as erl has read the cookie (on Linux),
and in any case when erl exits or epmd-docker is told to stop (TERM, HUP);
one left by an epmd-docker killed outright is removed by the next run.
ERLANG_COOKIE is taken out of erl's environment, where its children would
inherit it. With a cookie file of your own nothing is needed: erl reads it
itself, and epmd-docker replaces itself with erl. --cookie C is on
epmd-docker's own command line from the moment it starts until it
overwrites it with x's, microseconds later: prefer ERLANG_COOKIE, which
only you and root can read. --cookie-from-container over a plain tcp://
DOCKER_HOST reads the container's environment unencrypted: a warning says
so (doctor too).

In published mode (EPMD_DOCKER_MODE; no epmd reachable), the node behind
the container's published distribution port is asked its name instead.

Exit status: erl's once it runs; otherwise 1 target or node not found,
several nodes and no terminal to ask on; 2 usage error; 3 Docker could not
be reached; 4 the node cannot be reached; 5 the node refused the cookie.
`

// remshCmd is `epmd-docker remsh`: a remote shell without remembering
// flags.
type remshCmd struct {
	std stdio
}

// remshTimeout bounds asking the container's epmd and node.
const remshTimeout = 5 * time.Second

// exitStatus is the status of a program remsh ran, to exit with as is.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

func (c *remshCmd) run(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("remsh", flag.ContinueOnError)
	var cookies cookieFlag
	fset.Var(&cookies, "cookie", "")
	fromContainer := fset.Bool("cookie-from-container", false, "")
	iex := fset.Bool("iex", false, "")
	dryRun := fset.Bool("dry-run", false, "")
	pos, extra, err := parseFlags(fset, "remsh", remshHelp, c.std.out, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cmdUsageError("remsh", "takes one TARGET, got %d", len(pos))
	}
	prog := "erl"
	if *iex {
		prog = "iex"
	}
	// erl ignores -remsh unless both stdin and stdout are terminals (OTP
	// 25), and runs a local shell instead; OTP 26 to 27.3.4 stop the
	// remote node when a remote shell's input ends (erlang/otp#9852).
	// Without a terminal the input is therefore evaluated on the node, as
	// eval does, and never given to a shell.
	inTTY, outTTY := isTerminal(c.std.in), isTerminal(c.std.out)
	switch {
	case *dryRun:
	case !inTTY && *iex:
		return cmdUsageError("remsh", "--iex needs a terminal; to run Erlang expressions from a script, use epmd-docker eval")
	case !inTTY:
	case !outTTY:
		return errors.New("remsh needs a terminal on stdout too: erl would open a local shell, not one on the node; " +
			"to keep a log use script(1), or pipe Erlang expressions into remsh or epmd-docker eval")
	}

	lib, err := findLibrary()
	if err != nil {
		return err
	}
	progPath, err := exec.LookPath(prog)
	if err != nil {
		return fmt.Errorf("%s is not on PATH", prog)
	}
	t, err := locate(ctx, c.std, "remsh", pos[0], cookies, *fromContainer, !*dryRun && inTTY)
	if err != nil {
		return err
	}
	if !*dryRun && !inTTY {
		fmt.Fprintf(c.std.err, "epmd-docker: stdin is not a terminal: evaluating it on %s, as epmd-docker eval does\n", t.node)
		return evalOn(ctx, c.std, t, lib.Ebin, c.std.in, evalOptions{})
	}

	sname := "remsh-" + randomHex(4)
	argv := remshArgv(prog, lib.Ebin, sname, t.node, extra)
	if *dryRun {
		fmt.Fprintln(c.std.out, shellJoin(argv))
		how := "erl reads it from ~/.erlang.cookie"
		if t.private {
			how = "erl would read it from a private HOME"
		}
		fmt.Fprintf(c.std.err, "epmd-docker: cookie from %s, accepted by %s; %s\n", t.source, t.node, how)
		return nil
	}
	fmt.Fprintf(c.std.err, "epmd-docker: %s in %s at %s\n", cli.Safe(t.node), t.where, t.dial)
	if !t.private {
		// Nothing to clean up afterwards: become erl.
		return syscall.Exec(progPath, argv, cleanEnv(os.Environ()))
	}
	return runErl(erlRun{path: progPath, argv: argv, cookie: t.cookie, std: c.std})
}

// isTerminal reports whether a standard stream is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && cli.IsTerminal(f)
}

// Errors of locate that have exit statuses of their own (usage).
var (
	// errUnreachable: the node cannot be reached (status 4).
	errUnreachable = errors.New("node unreachable")
	// errCookieRefused: the node refused the cookie (status 5).
	errCookieRefused = errors.New("cookie refused")
)

// located is a node in a container, found and its cookie checked.
type located struct {
	node    string         // the name to dial, the node's own
	where   string         // the container, for people: "name (shortid)"
	dial    netip.AddrPort // where the node is dialled from here
	cookie  string
	source  string // where the cookie came from, for people
	private bool   // the cookie must be handed to erl in a private HOME
}

// locate finds the node TARGET names (node@container or container), the
// way the container is reached, and checks the cookie with it. ask says
// whether a person may be asked to choose among several nodes.
func locate(ctx context.Context, std stdio, cmd, target string, cookies cookieFlag, fromContainer, ask bool) (located, error) {
	given := cookies.value()
	if given != "" && fromContainer {
		return located{}, cmdUsageError(cmd, "--cookie and --cookie-from-container exclude each other")
	}
	name, host, hasName := strings.Cut(target, "@")
	if !hasName {
		name, host = "", target
	}
	if host == "" || hasName && name == "" {
		return located{}, cmdUsageError(cmd, "%q is not TARGET or node@TARGET", target)
	}

	log := newLogger(std.err)
	api, r, err := newDocker(log)
	if err != nil {
		return located{}, err
	}
	defer api.Close()
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	m, err := r.Lookup(dctx, host, wire.Inet)
	if err != nil && askKube(err) {
		return locatePod(ctx, std, name, host, given, fromContainer, ask, err)
	}
	if err != nil {
		return located{}, resolveError(host, unavailable(err))
	}
	where := fmt.Sprintf("%s (%s)", m.Container.Name, shortID(m.Container.ID))
	way := reach.Way{Mode: reach.Direct}
	if d, err := newDecider(api); err == nil {
		d.Settle(dctx)
		if w, err := d.Way(dctx, m, wire.Inet); err == nil {
			way = w
		}
	}
	addr := m.Addr
	if way.Mode == reach.Direct && way.Addr.IsValid() {
		addr = way.Addr // a Swarm task's docker_gwbridge address
	}

	pctx, cancel := context.WithTimeout(ctx, remshTimeout)
	defer cancel()
	found, err := discover.Find(pctx, discover.Target{Addr: addr, Hostname: m.Container.Hostname, Way: way, Via: tunnelAt(dctx, api)}, probeName())
	switch {
	case err != nil && way.Mode == reach.Published:
		return located{}, fmt.Errorf("%w: cannot ask the node in %s at its published port %s: %w", errUnreachable, where, way.Dial, err)
	case err != nil:
		return located{}, fmt.Errorf("%w: cannot ask the epmd in %s at %s: %w", errUnreachable, where, addr, err)
	}
	node, err := pick(std, found, name, host, where, ask)
	if err != nil {
		return located{}, err
	}

	cookie, source, private, err := findCookie(dctx, std, api, given, fromContainer, m.Container.ID, where)
	if err != nil {
		return located{}, err
	}

	return checkNode(pctx, std, node, located{where: where, cookie: cookie, source: source, private: private}, func(dial string) error {
		return sameContainer(dctx, r, dial, m)
	})
}

// checkNode checks the cookie with the node found in t.where, and that
// the name it gives is one that leads back there (same), and returns t
// completed.
func checkNode(ctx context.Context, std stdio, node discover.Node, t located, same func(dial string) error) (located, error) {
	where, cookie, source := t.where, t.cookie, t.source
	// The check introduces itself under a name of its own: the node may
	// hold the check's connection for a moment after it ends, and would
	// refuse erl as "already connected" if erl came under the same name.
	self := "remsh-check-" + randomHex(4) + "@" + shortHostname()
	dial, err := dist.Check(ctx, node.Dial, self, cookie)
	switch {
	case errors.Is(err, dist.ErrBadCookie):
		return located{}, fmt.Errorf("%w: %s in %s refused the cookie (from %s)", errCookieRefused, cli.Safe(dial), where, source)
	case errors.Is(err, dist.ErrNotAllowed):
		return located{}, fmt.Errorf("%w: node %s in %s does not allow connections from %s (net_kernel:allow/1?)", errUnreachable, node.Name, where, self)
	case errors.Is(err, dist.ErrProtocol):
		// An older node, TLS distribution: erl may still manage.
		dial = node.Node
		fmt.Fprintf(std.err, "epmd-docker: cannot check the cookie with %s (%v); trying %s\n", where, err, dial)
	case err != nil:
		return located{}, fmt.Errorf("%w: %s in %s at %s: %w", errUnreachable, node.Node, where, node.Dial, err)
	}
	if err := same(dial); err != nil {
		return located{}, err
	}
	t.node, t.dial = dial, node.Dial
	return t, nil
}

// pick chooses the node to dial among those found in the container (or
// pod), and says how many names were left out.
func pick(std stdio, found discover.Found, name, host, where string, ask bool) (discover.Node, error) {
	if found.Dropped > 0 {
		fmt.Fprintf(std.err, "epmd-docker: %s lists %d names that are not valid node names, or more than %d; left out\n", where, found.Dropped, discover.MaxPerContainer)
	}
	nodes := found.Nodes
	if len(nodes) == 0 {
		return discover.Node{}, fmt.Errorf("no Erlang node is registered with the epmd in %s", where)
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
		if name != "" && n.Name == name {
			return n, nil
		}
	}
	switch {
	case name != "":
		return discover.Node{}, fmt.Errorf("%s runs no node named %s; it runs %s", where, name, strings.Join(names, ", "))
	case len(nodes) == 1:
		return nodes[0], nil
	}
	in, ok := std.in.(*os.File)
	if !ask || !ok || !isTerminal(std.in) || !isTerminal(std.err) {
		return discover.Node{}, fmt.Errorf("%s runs several nodes: %s; name one, as in epmd-docker remsh %s@%s", where, strings.Join(names, ", "), names[0], host)
	}
	return askNode(bufio.NewReader(in), std.err, nodes, where)
}

// askNode lets a person choose a node, by number or name.
func askNode(in *bufio.Reader, out io.Writer, nodes []discover.Node, where string) (discover.Node, error) {
	fmt.Fprintf(out, "%s runs %d nodes:\n", where, len(nodes))
	for i, n := range nodes {
		fmt.Fprintf(out, "  %d) %s\n", i+1, n.Name)
	}
	for range 3 {
		fmt.Fprintf(out, "which one? [1-%d] ", len(nodes))
		line, err := in.ReadString('\n')
		answer := strings.TrimSpace(line)
		for i, n := range nodes {
			if answer == n.Name || answer == strconv.Itoa(i+1) {
				return n, nil
			}
		}
		if err != nil {
			fmt.Fprintln(out)
			return discover.Node{}, errors.New("no node chosen")
		}
	}
	return discover.Node{}, errors.New("no node chosen")
}

// findCookie finds the cookie, says where it came from, and whether erl
// must be handed it privately (true) or finds it itself in
// ~/.erlang.cookie.
func findCookie(ctx context.Context, std stdio, api *docker.Client, given string, fromContainer bool, id, where string) (cookie, source string, private bool, err error) {
	return pickCookie(given, fromContainer, func() (string, string, error) {
		if plainTCP(api.Host()) {
			fmt.Fprintf(std.err, "epmd-docker: warning: DOCKER_HOST=%s is plain TCP: the container's environment, cookie included, crosses the network unencrypted (use TLS, DOCKER_TLS_VERIFY=1, or ssh://)\n", api.Host())
		}
		ictx, cancel := context.WithTimeout(ctx, dockerTimeout)
		defer cancel()
		cfg, err := api.Config(ictx, id)
		if err != nil {
			return "", "", err
		}
		if v, name, ok := cfg.Lookup("RELEASE_COOKIE", "ERLANG_COOKIE"); ok {
			return v, name + " in " + where, nil
		}
		if v, ok := setcookieArg(cfg.Cmd); ok {
			return v, "-setcookie in the command line of " + where, nil
		}
		return "", "", fmt.Errorf("%s has no RELEASE_COOKIE or ERLANG_COOKIE in its environment, nor -setcookie in its command line", where)
	})
}

// pickCookie is findCookie with the container's cookie found by
// fromContainer, which is called only when the user asked for it.
func pickCookie(given string, useContainer bool, fromContainer func() (cookie, source string, err error)) (cookie, source string, private bool, err error) {
	switch {
	case given != "":
		cookie, source, private = given, "--cookie", true
	case useContainer:
		cookie, source, err = fromContainer()
		if err != nil {
			return "", "", false, err
		}
		private = true
	case os.Getenv("ERLANG_COOKIE") != "":
		cookie, source, private = os.Getenv("ERLANG_COOKIE"), "ERLANG_COOKIE", true
	default:
		cookie, source, err = homeCookie()
		if err != nil {
			return "", "", false, err
		}
	}
	if err := checkCookie(cookie); err != nil {
		return "", "", false, fmt.Errorf("the cookie from %s %v", source, err)
	}
	return cookie, source, private, nil
}

// homeCookie reads the cookie file erl would read, ~/.erlang.cookie or
// else $XDG_CONFIG_HOME/erlang/.erlang.cookie, with erl's complaints about
// it made here, before erl starts.
func homeCookie() (cookie, source string, err error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", fmt.Errorf("no cookie: pass --cookie or --cookie-from-container, or set ERLANG_COOKIE (%v)", err)
	}
	config := os.Getenv("XDG_CONFIG_HOME")
	if config == "" {
		config = filepath.Join(home, ".config")
	}
	for _, c := range []struct{ path, source string }{
		{filepath.Join(home, ".erlang.cookie"), "~/.erlang.cookie"},
		{filepath.Join(config, "erlang", ".erlang.cookie"), "$XDG_CONFIG_HOME/erlang/.erlang.cookie"},
	} {
		fi, err := os.Stat(c.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", "", err
		case fi.Mode().Perm()&0o077 != 0:
			return "", "", fmt.Errorf("%s may be read by others, so erl refuses it: chmod 400 %s", c.path, c.path)
		}
		b, err := os.ReadFile(c.path)
		if err != nil {
			return "", "", err
		}
		cookie, err := parseCookieFile(b)
		if err != nil {
			return "", "", fmt.Errorf("%s %v", c.path, err)
		}
		return cookie, c.source, nil
	}
	return "", "", errors.New("no cookie: pass --cookie or --cookie-from-container, set ERLANG_COOKIE, or write it to ~/.erlang.cookie")
}

// parseCookieFile reads a cookie file as auth:read_cookie/1 does: the
// printable ASCII characters up to the first other one, after which only
// newlines and blanks may follow.
func parseCookieFile(b []byte) (string, error) {
	n := 0
	for n < len(b) && b[n] >= ' ' && b[n] <= '~' {
		n++
	}
	for _, c := range b[n:] {
		if c != '\n' && c != '\r' && c != ' ' {
			return "", errors.New("has characters other than printable ASCII")
		}
	}
	if n == 0 {
		return "", errors.New("is empty")
	}
	return string(b[:n]), nil
}

// checkCookie applies the rules of a cookie file: printable ASCII, not
// empty. A -setcookie atom may hold more, but could not be handed over
// privately.
func checkCookie(cookie string) error {
	if cookie == "" {
		return errors.New("is empty")
	}
	for i := 0; i < len(cookie); i++ {
		if cookie[i] < ' ' || cookie[i] > '~' {
			return errors.New("has characters other than printable ASCII")
		}
	}
	return nil
}

// setcookieArg finds -setcookie C in a container's command line, which may
// also be one sh -c string.
func setcookieArg(cmd []string) (string, bool) {
	var words []string
	for _, a := range cmd {
		words = append(words, strings.Fields(a)...)
	}
	for i, w := range words {
		if (w == "-setcookie" || w == "--cookie") && i+1 < len(words) {
			return strings.Trim(words[i+1], `'"`), true
		}
	}
	return "", false
}

// sameContainer checks that the name the node gave resolves to the
// container it was found in: the node's host part is what erl will ask
// the resolver about.
func sameContainer(ctx context.Context, r *resolve.Resolver, node string, m resolve.Match) error {
	_, host, _ := strings.Cut(node, "@")
	got, err := r.Lookup(ctx, host, wire.Inet)
	switch {
	case err != nil:
		return fmt.Errorf("the node calls itself %s, but %s does not lead back to its container: %v", node, host, resolveError(host, unavailable(err)))
	case got.Container.ID != m.Container.ID:
		return fmt.Errorf("the node calls itself %s, but %s leads to container %s (%s), not %s (%s)", node, host,
			got.Container.Name, shortID(got.Container.ID), m.Container.Name, shortID(m.Container.ID))
	}
	return nil
}

// remshArgv is the command line of the shell. No cookie is ever on it.
func remshArgv(prog, ebin, sname, node string, extra []string) []string {
	erlArgs := []string{"-pa", ebin, "-start_epmd", "false", "-epmd_module", "epmd_docker"}
	var argv []string
	if prog == "iex" {
		// iex splits --erl on blanks, as the shell would.
		argv = []string{"iex", "--sname", sname, "--hidden", "--remsh", node, "--erl", strings.Join(erlArgs, " ")}
	} else {
		argv = append([]string{"erl"}, erlArgs...)
		argv = append(argv, "-hidden", "-sname", sname, "-remsh", node)
	}
	return append(argv, extra...)
}

// erlRun is a run of erl (or iex) as a child of epmd-docker.
type erlRun struct {
	path   string
	argv   []string
	cookie string // handed over in a private HOME; "" for none
	std    stdio
	extra  []*os.File // inherited as fd 3 on
}

// privatePrefix begins the name of every private HOME, followed by the
// pid of the epmd-docker that made it, so that the next run can tell the
// dirs of dead ones.
const privatePrefix = "epmd-docker-remsh-"

// runErl runs r.argv and returns its exit status as an exitStatus. With a
// cookie, erl runs with HOME set to a private directory holding
// .erlang.cookie. The file and the directory go as soon as erl has read
// the file (Linux: inotify; elsewhere when erl exits), and whatever the
// end, so that no cookie is left behind: when erl exits, when epmd-docker
// is told to stop (TERM, HUP: passed on to erl, which then exits), and,
// for an epmd-docker killed outright, at the next run.
func runErl(r erlRun) error {
	env := cleanEnv(os.Environ())
	if r.cookie != "" {
		sweepPrivate(runtimeDir())
		dir, err := os.MkdirTemp(runtimeDir(), privatePrefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return fmt.Errorf("private directory for the cookie: %w", err)
		}
		defer os.RemoveAll(dir)
		file := filepath.Join(dir, ".erlang.cookie")
		if err := os.WriteFile(file, []byte(r.cookie), 0o400); err != nil {
			return fmt.Errorf("private cookie file: %w", err)
		}
		stop := removeOnceRead(file, func() { _ = os.RemoveAll(dir) })
		defer stop()
		env = privateEnv(env, dir)
	}

	cmd := exec.Command(r.path, r.argv[1:]...)
	cmd.Args[0] = r.argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.std.in, r.std.out, r.std.err
	cmd.Env = env
	cmd.ExtraFiles = r.extra

	// The terminal sends ^C and ^\ to erl and to us alike: erl acts on
	// them, we must merely survive them. TERM and HUP are meant for us
	// and are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return err
	}
	for _, f := range r.extra {
		f.Close() // erl has its own copies
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM || s == syscall.SIGHUP {
				_ = cmd.Process.Signal(s)
			}
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return exitStatus(128 + int(ws.Signal()))
				}
				return exitStatus(ee.ExitCode())
			}
			if err != nil {
				return err
			}
			return exitStatus(0)
		}
	}
}

// sweepPrivate removes the private HOMEs in dir of epmd-docker processes
// that are gone: killed before they could clean up.
func sweepPrivate(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), privatePrefix)
		if !ok || !e.IsDir() {
			continue
		}
		ps, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(ps)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// cleanEnv is env without ERLANG_COOKIE: it would reach erl and every
// process erl starts, where /proc/PID/environ shows it.
func cleanEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "ERLANG_COOKIE=") })
}

// cookieFlag is --cookie, which may be given more than once: the last one
// counts, and every one is blanked out of the process list.
type cookieFlag []string

func (f *cookieFlag) String() string { return "" }

// Set keeps a copy of v and overwrites the original, which aliases this
// process's argv, with x's.
func (f *cookieFlag) Set(v string) error {
	*f = append(*f, strings.Clone(v))
	hideArg(v)
	return nil
}

// value is the cookie given last, or "".
func (f cookieFlag) value() string {
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// privateEnv is env with HOME at dir, and the XDG directories erl uses
// for its configuration and shell history kept where they were.
func privateEnv(env []string, dir string) []string {
	home, _ := os.UserHomeDir()
	out := make([]string, 0, len(env)+3)
	var haveConfig, haveCache bool
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "HOME="):
			continue
		case strings.HasPrefix(kv, "XDG_CONFIG_HOME="):
			haveConfig = true
		case strings.HasPrefix(kv, "XDG_CACHE_HOME="):
			haveCache = true
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+dir)
	if !haveConfig && home != "" {
		out = append(out, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	}
	if !haveCache && home != "" {
		out = append(out, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	}
	return out
}

// runtimeDir is where the private HOME goes: the per-user runtime
// directory (a tmpfs only its owner may enter) when there is one.
func runtimeDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return os.TempDir()
}

// shortHostname is this host's name up to the first dot, as -sname uses it.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// shellJoin quotes argv for a POSIX shell, for --dry-run.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '@' || r == ':' || r == '=' || r == ',' ||
				'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
