package wire

import (
	"context"
	"errors"
	"os"
	"strings"
)

// Errors a resolver returns, or wraps with %w, so that the port server can
// turn them into the Reason atoms of the grammar without importing the
// resolver. They live here, next to the grammar, because they are part of it.
var (
	// ErrNotFound means no running container answers to the host: the
	// Erlang side then falls back to ordinary name resolution. Sent as
	// not_found.
	ErrNotFound = errors.New("no running container answers to that name")
	// ErrNoAddress means the container exists but has no address of the
	// requested family. Sent as no_address.
	ErrNoAddress = errors.New("container has no address of that family")
	// ErrNotPublished means the container was found, but it is to be
	// reached through a published port (EPMD_DOCKER_MODE) and publishes
	// none that can be told to be its distribution port. Sent as
	// not_published.
	ErrNotPublished = errors.New("container publishes no distribution port")
	// ErrUnavailable means the Docker daemon cannot be reached or did not
	// give a usable answer. Sent as docker_unavailable.
	ErrUnavailable = errors.New("docker daemon unavailable")
)

// Errors DecodeRequest returns, wrapped with detail.
var (
	// ErrUnreadableTag means the body is not a {Tag, _} term with a Tag in
	// 0..2^32-1, so no reply can be addressed: log it and skip it.
	ErrUnreadableTag = errors.New("request tag unreadable")
	// ErrBadRequest means the tag was read but the command is not one of
	// the grammar's. Sent as bad_request.
	ErrBadRequest = errors.New("bad request")
	// ErrBadHost means a resolve command carries a host that is empty, too
	// long, or not a hostname. Sent as bad_host.
	ErrBadHost = errors.New("bad host")
)

// AmbiguousError means several running containers answer to Host. It is
// sent as {ambiguous, Candidates}, so each candidate should let a person
// pick one: "name (shortid)".
type AmbiguousError struct {
	Host       string
	Candidates []string
}

// Error lists the candidates, since the error exists to make someone choose.
func (e *AmbiguousError) Error() string {
	return "host " + e.Host + " is ambiguous: " + strings.Join(e.Candidates, ", ")
}

// Reason is an error atom of the grammar.
type Reason string

// The error atoms of the grammar; see the package comment.
const (
	ReasonNotFound          Reason = "not_found"
	ReasonAmbiguous         Reason = "ambiguous" // sent as {ambiguous, [binary()]}
	ReasonNoAddress         Reason = "no_address"
	ReasonNotPublished      Reason = "not_published"
	ReasonDockerUnavailable Reason = "docker_unavailable"
	ReasonTimeout           Reason = "timeout"
	ReasonBadHost           Reason = "bad_host"
	ReasonBadRequest        Reason = "bad_request"
)

// ReasonOf maps an error to the atom an error reply carries.
//
// A deadline wins over ErrUnavailable, because a resolver that wraps a
// timed-out Docker call as unavailable still timed out. An error that is none
// of the above, a bug or a Docker failure nobody classified, is sent as
// docker_unavailable: for the Erlang side it means "Docker could not answer",
// which is true, whereas not_found would be a claim about the host that
// nobody checked, and would send the caller off to resolve a container name
// through DNS.
func ReasonOf(err error) Reason {
	var amb *AmbiguousError
	switch {
	case errors.As(err, &amb):
		return ReasonAmbiguous
	case errors.Is(err, ErrNotFound):
		return ReasonNotFound
	case errors.Is(err, ErrNoAddress):
		return ReasonNoAddress
	case errors.Is(err, ErrNotPublished):
		return ReasonNotPublished
	case errors.Is(err, ErrBadHost):
		return ReasonBadHost
	case errors.Is(err, ErrBadRequest):
		return ReasonBadRequest
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	default:
		return ReasonDockerUnavailable
	}
}
