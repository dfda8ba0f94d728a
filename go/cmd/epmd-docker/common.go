package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/cli"
	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// newLogger logs to w (stderr) at the level EPMD_DOCKER_LOG names.
func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(os.Getenv("EPMD_DOCKER_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("prog", "epmd-docker")
}

// stampedVersion is the application version the Makefile stamps into its
// builds (-ldflags -X main.stampedVersion=VSN, VSN from the .app.src), so
// that a helper built from a checkout or a package reports the version of
// the Erlang side beside it. `go install ...@VERSION` stamps nothing here.
var stampedVersion string

// version is the version the Makefile stamped, else the module version
// stamped by the Go toolchain, or "devel".
func version() string {
	if stampedVersion != "" {
		return stampedVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = v + " " + s.Value[:12]
			}
		}
		if v != "" {
			return v
		}
	}
	return "devel"
}

// exitCode prints err for a person and maps it to an exit status. Nothing
// else in the program calls os.Exit.
func exitCode(stderr io.Writer, err error) int {
	var status exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &status):
		// The program remsh ran has spoken for itself.
		return int(status)
	case errors.Is(err, errUsage):
		help := "epmd-docker help"
		var ce *cmdUsage
		if errors.As(err, &ce) {
			help = "epmd-docker " + ce.cmd + " --help"
		}
		fmt.Fprintf(stderr, "epmd-docker: %s\nrun '%s' for usage\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "), help)
		return exitUsage
	case errors.Is(err, errUnreachable):
		fmt.Fprintf(stderr, "epmd-docker: %s\n", safeText(strings.TrimPrefix(err.Error(), errUnreachable.Error()+": ")))
		return exitUnreachable
	case errors.Is(err, errCookieRefused):
		fmt.Fprintf(stderr, "epmd-docker: %s\n", safeText(strings.TrimPrefix(err.Error(), errCookieRefused.Error()+": ")))
		return exitCookieRefused
	case errors.Is(err, errQuiet) && errors.Is(err, wire.ErrUnavailable):
		return exitUnavailable
	case errors.Is(err, errQuiet):
		return exitFailed
	case errors.Is(err, wire.ErrUnavailable):
		fmt.Fprintf(stderr, "epmd-docker: %s\n", safeText(err.Error()))
		return exitUnavailable
	default:
		fmt.Fprintf(stderr, "epmd-docker: %s\n", safeText(err.Error()))
		return exitFailed
	}
}

// safeText is cli.Safe line by line: a message may name what a container
// said, which must not reach the terminal as escape sequences.
func safeText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = cli.Safe(l)
	}
	return strings.Join(lines, "\n")
}

// errQuiet is a failure whose explanation the command already printed.
var errQuiet = errors.New("failed")

// errQuietUnavailable is errQuiet for a Docker daemon that could not be
// reached: exit status 3, nothing more printed.
var errQuietUnavailable = fmt.Errorf("%w: %w", errQuiet, wire.ErrUnavailable)

// dockerTimeout bounds each command's Docker requests: a daemon that has
// not answered by then is treated as unavailable.
const dockerTimeout = 10 * time.Second

// newResolver returns a Resolver over the Docker daemon that the
// environment names, configured from EPMD_DOCKER_* settings. It does not
// contact the daemon.
func newResolver(log *slog.Logger) (*resolve.Resolver, error) {
	_, r, err := newDocker(log)
	return r, err
}

// newDocker returns a Docker client configured as the docker CLI would be
// (DOCKER_HOST and friends; the API version negotiated on first contact)
// and a Resolver reading from it.
func newDocker(log *slog.Logger) (*docker.Client, *resolve.Resolver, error) {
	api, err := docker.New()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := resolve.ConfigFromEnv()
	if err != nil {
		api.Close()
		return nil, nil, err
	}
	cfg.Logger = log
	return api, resolve.New(api, cfg), nil
}

// parseFlags parses a subcommand's arguments. Flags may come before or
// after the positional arguments, as people type them; everything after a
// "--" is returned in rest, unparsed. --help prints help to stdout and
// returns flag.ErrHelp; a mistake returns a usage error naming cmd.
func parseFlags(fs *flag.FlagSet, cmd, help string, stdout io.Writer, args []string) (pos, rest []string, err error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprint(stdout, help)
			return nil, nil, err
		case err != nil:
			return nil, nil, cmdUsageError(cmd, "%v", err)
		}
		left := fs.Args()
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			return pos, left, nil
		}
		if len(left) == 0 {
			return pos, nil, nil
		}
		pos = append(pos, left[0])
		args = left[1:]
	}
}

// cmdUsage is a usage error in the command line of subcommand cmd.
type cmdUsage struct {
	cmd string
	err error
}

func (e *cmdUsage) Error() string { return e.err.Error() }
func (e *cmdUsage) Unwrap() error { return e.err }

// cmdUsageError is usageError for subcommand cmd, whose --help the message
// then points to.
func cmdUsageError(cmd, format string, a ...any) error {
	return &cmdUsage{cmd: cmd, err: usageError(cmd+": "+format, a...)}
}

// shortID is the 12-digit form of a container ID that docker ps shows.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// unavailable explains a Docker error for a person when the context's
// deadline, rather than the daemon, ended the request.
func unavailable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, wire.ErrUnavailable) {
		return fmt.Errorf("%w: no answer within %v (%v)", wire.ErrUnavailable, dockerTimeout, err)
	}
	return err
}

// plainTCP reports whether the daemon address is reached over TCP without
// TLS, as the docker client does for tcp:// without DOCKER_CERT_PATH:
// whatever the API says, the container's environment included, crosses
// the network in the clear.
func plainTCP(host string) bool {
	return (strings.HasPrefix(host, "tcp://") || strings.HasPrefix(host, "http://")) &&
		os.Getenv("DOCKER_CERT_PATH") == ""
}
