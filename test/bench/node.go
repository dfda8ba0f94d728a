package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// node is an Erlang node on the host running epmd_docker_bench:main/0,
// driven one expression at a time.
type node struct {
	label string // for messages: "epmd_docker node"
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has exited

	mu     sync.Mutex
	tail   []string // the last lines it printed, for error messages
	result map[int]chan string
	nextID int
}

var resultLine = regexp.MustCompile(`^@@RESULT (\d+) (.*)$`)

// erlEnv is the environment for every erl the bench starts: the bench's
// own, without settings that would change what is measured (EPMD_DOCKER_*
// tuning, a hosts file, another epmd port), plus extra.
func erlEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		// KUBECONFIG too: the Docker rows must not look in a cluster
		// (the Kubernetes rows name it themselves).
		if strings.HasPrefix(k, "EPMD_DOCKER_") || k == "KUBECONFIG" || k == "ERL_INETRC" || k == "ERL_EPMD_PORT" || k == "ERL_FLAGS" || k == "ERL_AFLAGS" || k == "ERL_ZFLAGS" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startNode starts erl with args (which must run epmd_docker_bench main)
// and waits until it answers.
func startNode(ctx context.Context, label string, env []string, args ...string) (*node, error) {
	cmd := exec.Command("erl", args...)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s: %w", label, err)
	}
	n := &node{label: label, cmd: cmd, stdin: stdin, done: make(chan struct{}), result: map[int]chan string{}}
	go n.read(pr)
	go func() { _ = cmd.Wait(); pw.Close(); close(n.done) }()
	if _, err := n.eval(ctx, "node()", 30*time.Second); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *node) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20) // a run of timings is one long line
	for sc.Scan() {
		line := sc.Text()
		n.mu.Lock()
		if m := resultLine.FindStringSubmatch(line); m != nil {
			id, _ := strconv.Atoi(m[1])
			if ch, ok := n.result[id]; ok {
				ch <- m[2]
				delete(n.result, id)
			}
		} else if strings.TrimSpace(line) != "" {
			n.tail = append(n.tail, line)
			if len(n.tail) > 40 {
				n.tail = n.tail[len(n.tail)-40:]
			}
		}
		n.mu.Unlock()
	}
}

// eval evaluates one Erlang expression on the node and returns the result
// as ~0tp prints it.
func (n *node) eval(ctx context.Context, expr string, timeout time.Duration) (string, error) {
	n.mu.Lock()
	n.nextID++
	id := n.nextID
	ch := make(chan string, 1)
	n.result[id] = ch
	n.mu.Unlock()
	if _, err := fmt.Fprintf(n.stdin, "%d %s.\n", id, expr); err != nil {
		return "", fmt.Errorf("the %s is gone: %v\n%s", n.label, err, n.output())
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case got := <-ch:
		return got, nil
	case <-n.done:
		return "", fmt.Errorf("the %s exited while evaluating %s\n%s", n.label, shorten(expr, 200), n.output())
	case <-t.C:
		return "", fmt.Errorf("the %s did not answer %s within %v\n%s", n.label, shorten(expr, 200), timeout, n.output())
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// timings evaluates an expression that returns {ok, [Nanoseconds]}.
func (n *node) timings(ctx context.Context, expr string, timeout time.Duration) ([]time.Duration, error) {
	got, err := n.eval(ctx, expr, timeout)
	if err != nil {
		return nil, err
	}
	ds, err := parseNanos(got)
	if err != nil {
		return nil, fmt.Errorf("%s on the %s: %w", shorten(expr, 200), n.label, err)
	}
	return ds, nil
}

func (n *node) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.tail) == 0 {
		return "(it printed nothing else)"
	}
	return "its last lines:\n  " + strings.Join(n.tail, "\n  ")
}

// close stops the node: stdin closed makes main/0 halt; a node that does
// not is killed.
func (n *node) close() {
	_ = n.stdin.Close()
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// erlString quotes s as an Erlang string literal.
func erlString(s string) string {
	return strconv.Quote(s) // the hosts and names used here are plain ASCII
}

// erlStrings is an Erlang list of strings.
func erlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = erlString(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// erlAtoms is an Erlang list of quoted atoms.
func erlAtoms(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ",") + "]"
}
