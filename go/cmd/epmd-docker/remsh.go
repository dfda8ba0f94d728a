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
	"github.com/epmd-docker/epmd_docker/go/internal/dist"
	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/epmd"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

const remshHelp = `Usage: epmd-docker remsh TARGET [flags] [-- ERL_ARGS...]

Opens a remote shell on an Erlang node in a container. TARGET is anything
resolve accepts (container name, hostname, ID or ID prefix, network alias,
compose service), optionally with a node name: node@TARGET. Without one,
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
                            or the -setcookie in its command line
  --iex                     start iex instead of erl (the node must have
                            Elixir on its code path)
  --dry-run                 check everything, print the command, run nothing

The cookie is --cookie, else --cookie-from-container, else $ERLANG_COOKIE,
else ~/.erlang.cookie (or $XDG_CONFIG_HOME/erlang/.erlang.cookie, as erl
reads them). It is never printed and never on erl's command line: erl
copies -setcookie, and the contents of ERL_FLAGS and of -args_file files,
into the emulator's arguments, which every user can read with ps. Instead
erl runs with HOME set to a private directory (mode 0700) holding
.erlang.cookie (mode 0400), removed when erl exits, with XDG_CONFIG_HOME
and XDG_CACHE_HOME still pointing at yours; epmd-docker stays to remove
it. With a cookie file of your own nothing is needed: erl reads it
itself, and epmd-docker replaces itself with erl. --cookie C is on
epmd-docker's own command line from the moment it starts until it
overwrites it with x's, microseconds later: prefer ERLANG_COOKIE, which
only you and root can read.

Exit status: erl's once it runs; otherwise 1 target or node not found,
several nodes and no terminal to ask on, cookie refused; 2 usage error;
3 Docker could not be reached.
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
	cookieFlag := fset.String("cookie", "", "")
	fromContainer := fset.Bool("cookie-from-container", false, "")
	iex := fset.Bool("iex", false, "")
	dryRun := fset.Bool("dry-run", false, "")
	pos, extra, err := parseFlags(fset, "remsh", remshHelp, c.std.out, args)
	if err != nil {
		return err
	}
	// The flag's value aliases this process's argv: copy it, then blank
	// the original out of the process list.
	given := strings.Clone(*cookieFlag)
	hideArg(*cookieFlag)
	switch {
	case len(pos) != 1:
		return cmdUsageError("remsh", "takes one TARGET, got %d", len(pos))
	case given != "" && *fromContainer:
		return cmdUsageError("remsh", "--cookie and --cookie-from-container exclude each other")
	}
	name, host, hasName := strings.Cut(pos[0], "@")
	if !hasName {
		name, host = "", pos[0]
	}
	if host == "" || hasName && name == "" {
		return cmdUsageError("remsh", "%q is not TARGET or node@TARGET", pos[0])
	}

	lib, err := findLibrary()
	if err != nil {
		return err
	}
	prog := "erl"
	if *iex {
		prog = "iex"
	}
	progPath, err := exec.LookPath(prog)
	if err != nil {
		return fmt.Errorf("%s is not on PATH", prog)
	}

	log := newLogger(c.std.err)
	api, r, err := newDocker(log)
	if err != nil {
		return err
	}
	defer api.Close()
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	m, err := r.Lookup(dctx, host, wire.Inet)
	if err != nil {
		return resolveError(host, unavailable(err))
	}
	where := fmt.Sprintf("%s (%s)", m.Container.Name, shortID(m.Container.ID))

	pctx, cancel := context.WithTimeout(ctx, remshTimeout)
	defer cancel()
	at := tunnelAt(dctx, api)
	nodes, err := epmd.Names(pctx, at(netip.AddrPortFrom(m.Addr, epmd.DefaultPort)))
	if err != nil {
		return fmt.Errorf("cannot ask the epmd in %s at %s: %v", where, m.Addr, err)
	}
	node, err := c.pick(nodes, name, host, where)
	if err != nil {
		return err
	}

	cookie, source, private, err := c.cookie(dctx, given, *fromContainer, m.Container.ID, where)
	if err != nil {
		return err
	}

	sname := "remsh-" + randomHex(4)
	// The check introduces itself under a name of its own: the node may
	// hold the check's connection for a moment after it ends, and would
	// refuse erl as "already connected" if erl came under the same name.
	self := "remsh-check-" + randomHex(4) + "@" + shortHostname()
	dial, err := dist.Check(pctx, at(netip.AddrPortFrom(m.Addr, uint16(node.Port))), self, cookie)
	switch {
	case errors.Is(err, dist.ErrBadCookie):
		return fmt.Errorf("%s in %s refused the cookie (from %s)", dial, where, source)
	case errors.Is(err, dist.ErrNotAllowed):
		return fmt.Errorf("node %s in %s does not allow connections from %s (net_kernel:allow/1?)", node.Name, where, self)
	case err != nil:
		// An older node, TLS distribution: erl may still manage.
		dial = node.Name + "@" + m.Container.Hostname
		fmt.Fprintf(c.std.err, "epmd-docker: cannot check the cookie with %s (%v); trying %s\n", where, err, dial)
	}
	if err := c.sameContainer(dctx, r, dial, m); err != nil {
		return err
	}

	argv := remshArgv(prog, lib.Ebin, sname, dial, extra)
	if *dryRun {
		fmt.Fprintln(c.std.out, shellJoin(argv))
		how := "erl reads it from ~/.erlang.cookie"
		if private {
			how = "erl would read it from a private HOME"
		}
		fmt.Fprintf(c.std.err, "epmd-docker: cookie from %s, accepted by %s; %s\n", source, dial, how)
		return nil
	}
	fmt.Fprintf(c.std.err, "epmd-docker: %s in %s at %s\n", dial, where, m.Addr)
	if !private {
		// Nothing to clean up afterwards: become erl. An SSH
		// connection to the daemon would outlive us: erl makes its own.
		api.Close()
		return syscall.Exec(progPath, argv, os.Environ())
	}
	return c.runWithCookie(progPath, argv, cookie)
}

// pick chooses the node to dial among those the container's epmd lists.
func (c *remshCmd) pick(nodes []epmd.Node, name, host, where string) (epmd.Node, error) {
	if len(nodes) == 0 {
		return epmd.Node{}, fmt.Errorf("no Erlang node is registered with the epmd in %s", where)
	}
	// epmd lists the latest first; people expect an order that holds.
	slices.SortFunc(nodes, func(a, b epmd.Node) int { return strings.Compare(a.Name, b.Name) })
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
		if name != "" && n.Name == name {
			return n, nil
		}
	}
	switch {
	case name != "":
		return epmd.Node{}, fmt.Errorf("%s runs no node named %s; it runs %s", where, name, strings.Join(names, ", "))
	case len(nodes) == 1:
		return nodes[0], nil
	}
	in, ok := c.std.in.(*os.File)
	errf, eok := c.std.err.(*os.File)
	if !ok || !eok || !cli.IsTerminal(in) || !cli.IsTerminal(errf) {
		return epmd.Node{}, fmt.Errorf("%s runs several nodes: %s; name one, as in epmd-docker remsh %s@%s", where, strings.Join(names, ", "), names[0], host)
	}
	return ask(bufio.NewReader(in), c.std.err, nodes, where)
}

// ask lets a person choose a node, by number or name.
func ask(in *bufio.Reader, out io.Writer, nodes []epmd.Node, where string) (epmd.Node, error) {
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
			return epmd.Node{}, errors.New("no node chosen")
		}
	}
	return epmd.Node{}, errors.New("no node chosen")
}

// cookie finds the cookie, says where it came from, and whether erl must
// be handed it privately (true) or finds it itself in ~/.erlang.cookie.
func (c *remshCmd) cookie(ctx context.Context, given string, fromContainer bool, id, where string) (cookie, source string, private bool, err error) {
	switch {
	case given != "":
		cookie, source, private = given, "--cookie", true
	case fromContainer:
		api, err := docker.New()
		if err != nil {
			return "", "", false, err
		}
		defer api.Close()
		ictx, cancel := context.WithTimeout(ctx, dockerTimeout)
		defer cancel()
		cfg, err := api.Config(ictx, id)
		if err != nil {
			return "", "", false, err
		}
		v, name, ok := cfg.Lookup("RELEASE_COOKIE", "ERLANG_COOKIE")
		if ok {
			cookie, source = v, name+" in "+where
		} else if v, ok := setcookieArg(cfg.Cmd); ok {
			cookie, source = v, "-setcookie in the command line of "+where
		} else {
			return "", "", false, fmt.Errorf("%s has no RELEASE_COOKIE or ERLANG_COOKIE in its environment, nor -setcookie in its command line", where)
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
func (c *remshCmd) sameContainer(ctx context.Context, r *resolve.Resolver, node string, m resolve.Match) error {
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

// runWithCookie runs argv with the cookie in a private HOME, and removes it
// when the program exits. epmd-docker stays as the parent for that: erl
// reads the cookie at boot, but only a process that outlives erl can be
// sure to clean up.
func (c *remshCmd) runWithCookie(path string, argv []string, cookie string) error {
	dir, err := os.MkdirTemp(runtimeDir(), "epmd-docker-remsh-")
	if err != nil {
		return fmt.Errorf("private directory for the cookie: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, ".erlang.cookie"), []byte(cookie), 0o400); err != nil {
		return fmt.Errorf("private cookie file: %w", err)
	}

	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.std.in, c.std.out, c.std.err
	cmd.Env = privateEnv(os.Environ(), dir)

	// The terminal sends ^C and ^\ to erl and to us alike: erl acts on
	// them, we must merely survive them. TERM and HUP are meant for us
	// and are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return err
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
			return err
		}
	}
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
