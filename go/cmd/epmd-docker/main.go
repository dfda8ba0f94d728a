// Command epmd-docker resolves the hostnames of Erlang nodes in Docker
// containers through the Docker Engine API.
//
// It has two faces. As a port program (`epmd-docker port`), started by the
// Erlang epmd_docker module, it answers lookups framed {packet,4} on stdin
// and stdout; the protocol is in go/internal/wire. As a command-line tool it
// answers a person; run `epmd-docker help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in usage.
const (
	exitOK          = 0
	exitFailed      = 1 // the command ran and the answer is no
	exitUsage       = 2
	exitUnavailable = 3 // Docker could not be reached
)

// errUsage marks an error in the command line; main prints usage for it.
var errUsage = errors.New("usage")

// usageError is a command-line mistake, said in words.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

// command is one subcommand.
type command interface {
	// run executes the command; it writes its answer to stdout and
	// diagnostics to stderr.
	run(ctx context.Context, args []string) error
}

// stdio is the standard streams, passed explicitly so tests can run commands.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

const usage = `epmd-docker: find and reach Erlang nodes in Docker containers

Usage:
  epmd-docker resolve HOST [--inet6] [--json]     the address node@HOST is dialled at, and why
  epmd-docker ls [--json]                         running containers and the Erlang nodes in them
  epmd-docker doctor [--json]                     check the setup, and say what to fix
  epmd-docker remsh TARGET [flags] [-- ERL_ARGS]  open a remote shell on a container's node
                                                  (no terminal: evaluate stdin there, as eval)
  epmd-docker eval TARGET [EXPR | -] [flags]      evaluate Erlang expressions on a container's
                                                  node and print the value, for scripts
  epmd-docker port                                serve the Erlang side over stdin/stdout
  epmd-docker version                             print the version
  epmd-docker help                                print this help

Run 'epmd-docker COMMAND --help' for a command's flags.

HOST is what follows the @ in node@HOST: a running container's hostname (by
default its 12-digit ID), its name, ID or unique ID prefix, a network alias,
or a compose service name. When no container answers to it and a kubeconfig
is present, a running pod of its current context: POD or HOSTNAME (web-0),
POD.NAMESPACE, or HOSTNAME.SERVICE.NAMESPACE.svc.cluster.local.

Settings (environment):
  DOCKER_HOST, DOCKER_*     which Docker daemon to ask, as for the docker CLI
  EPMD_DOCKER_NETWORK       network whose address to use for containers on several
  EPMD_DOCKER_TTL           how long an answer is cached (Go duration, default 30s)
  EPMD_DOCKER_NEGATIVE_TTL  how long "not found" is cached (default 2s)
  KUBECONFIG                the Kubernetes context to look in, as for kubectl
                            (default ~/.kube/config; none: containers only)
  EPMD_DOCKER_KUBE_REACH    pods at their address (direct), through a port-forward
                            (forward), or as a probe says (auto, the default)
  EPMD_DOCKER_LOG           log level on stderr: debug, info, warn (default), error
  NO_COLOR                  no colour even on a terminal

Output: the answer goes to stdout, diagnostics to stderr; colour only when
stdout is a terminal.

Exit status: 0 done; 1 not found, ambiguous, or a check failed; 2 usage
error; 3 Docker could not be reached; 4 the node cannot be reached; 5 the
node refused the cookie; 6 (eval) the expression raised. remsh exits with
erl's status once erl runs.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr})
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps its error to an exit code.
func run(ctx context.Context, args []string, std stdio) int {
	if len(args) == 0 {
		fmt.Fprint(std.err, usage)
		return exitUsage
	}
	var cmd command
	switch name := args[0]; name {
	case "port":
		cmd = &portCmd{std: std}
	case "resolve":
		cmd = &resolveCmd{std: std}
	case "ls":
		cmd = &lsCmd{std: std}
	case "doctor":
		cmd = &doctorCmd{std: std}
	case "remsh":
		cmd = &remshCmd{std: std}
	case "eval":
		cmd = &evalCmd{std: std}
	case "version", "--version":
		fmt.Fprintln(std.out, version())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(std.out, usage)
		return exitOK
	default:
		fmt.Fprintf(std.err, "epmd-docker: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	return exitCode(std.err, cmd.run(ctx, args[1:]))
}
