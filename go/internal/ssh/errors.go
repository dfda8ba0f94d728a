package ssh

import (
	"errors"
	"fmt"
	"strings"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// What can fail on the way to a Docker daemon over SSH, for doctor and
// for people: every error of this package wraps one of them, and
// wire.ErrUnavailable.
var (
	// ErrSSH is ssh itself: the server cannot be reached, its host key
	// is unknown or changed, or the login was refused.
	ErrSSH = errors.New("ssh failed")
	// ErrNoDockerCLI means the server has no docker command on the PATH
	// of a non-interactive login, which `docker system dial-stdio` needs.
	ErrNoDockerCLI = errors.New("no docker command on the server")
	// ErrDaemon means the docker command on the server could not reach
	// the daemon there.
	ErrDaemon = errors.New("the docker daemon on the server cannot be reached")
)

// Error is a failure on the way to the daemon over SSH.
type Error struct {
	Server string
	Kind   error  // ErrSSH, ErrNoDockerCLI or ErrDaemon
	What   string // for people: what failed, lowercase
	Fix    string // for people: what to do about it; may be ""
	Detail string // the last line ssh or the server printed
}

func (e *Error) Error() string {
	s := e.Problem()
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

// Problem is the error without its fix: what failed, and what ssh or the
// server said.
func (e *Error) Problem() string {
	s := "ssh " + e.Server + ": " + e.What
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Is makes an Error match its Kind and wire.ErrUnavailable.
func (e *Error) Is(target error) bool {
	return target == e.Kind || target == wire.ErrUnavailable
}

// classify explains why an ssh process ended, from its exit error and
// what it printed on stderr.
func classify(server string, waitErr error, stderr string) error {
	line := lastLine(stderr)
	low := strings.ToLower(stderr)
	e := &Error{Server: server, Kind: ErrSSH, Detail: line}
	switch {
	case strings.Contains(low, "host key verification failed"), strings.Contains(low, "remote host identification has changed"):
		e.What = "the server's host key is not known here, or has changed"
		e.Fix = "check it and add it to ~/.ssh/known_hosts (for example by running ssh " + server + " once); BatchMode=yes never asks"
	case strings.Contains(low, "permission denied"), strings.Contains(low, "too many authentication failures"):
		e.What = "the server refused the login"
		e.Fix = "load your key into ssh-agent, or name it with IdentityFile in ~/.ssh/config; a password or passphrase is never asked for"
	case strings.Contains(low, "could not resolve hostname"), strings.Contains(low, "name or service not known"):
		e.What = "the server's name does not resolve"
	case strings.Contains(low, "connection refused"), strings.Contains(low, "timed out"), strings.Contains(low, "no route to host"), strings.Contains(low, "network is unreachable"), strings.Contains(low, "connection closed"), strings.Contains(low, "connection reset"):
		e.What = "cannot connect to the server's sshd"
	case waitErr == nil:
		e.What = "the connection ended"
	default:
		e.What = fmt.Sprintf("ssh exited (%v)", waitErr)
	}
	return e
}

// Explain turns the error of an API call over c into an *Error when what
// the server printed tells which step failed (the docker CLI missing
// there, or its daemon not answering); else it returns nil.
// `docker system dial-stdio` reports on stderr, which the connection
// helper puts into the error's text, and which c also keeps for a few
// seconds for errors that have lost it.
func (c *Conn) Explain(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if err == nil {
		return nil
	}
	msg := err.Error()
	i := strings.Index(msg, "stderr=")
	if i < 0 {
		if err = c.recentAPIFailure(); err == nil {
			return nil
		}
		msg = err.Error()
		i = strings.Index(msg, "stderr=")
	}
	server := c.Server()
	stderr := msg[i+len("stderr="):]
	low := strings.ToLower(stderr)
	switch {
	case strings.Contains(low, "docker: command not found"), strings.Contains(low, "docker: not found"), strings.Contains(low, "exec: docker:"):
		return &Error{Server: server, Kind: ErrNoDockerCLI, What: "the server has no docker command", Detail: lastLine(stderr),
			Fix: "install the docker CLI there, on the PATH that `ssh " + server + " docker version` sees"}
	case strings.Contains(low, "cannot connect to the docker daemon"), strings.Contains(low, "permission denied while trying to connect"),
		strings.Contains(low, "is the docker daemon running"), strings.Contains(low, "failed to open the raw stream connection"):
		return &Error{Server: server, Kind: ErrDaemon, What: "the docker command on the server cannot reach its daemon", Detail: lastLine(stderr),
			Fix: "start dockerd there, and put the login user in the docker group"}
	case stderr != "":
		return classify(server, nil, stderr)
	}
	return nil
}

// lastLine is the last non-empty line of s, trimmed and shortened.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			if len(l) > 200 {
				l = l[:200] + "..."
			}
			return l
		}
	}
	return ""
}
