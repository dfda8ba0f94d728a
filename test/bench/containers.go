package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// container is a running container with an Erlang node "app" in it.
type container struct {
	ID       string
	Hostname string // the default: the first 12 digits of the ID
	IP       string
	Node     string // app@Hostname
}

// dockerCLI runs the docker CLI with a deadline and returns its trimmed
// stdout.
func dockerCLI(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", shorten(strings.Join(args, " "), 120), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// startContainers starts n containers, each running `erl -sname app`,
// labelled for this run, a few at a time; then waits until every node is
// registered with the epmd in its container.
func startContainers(ctx context.Context, n int, image string, labels []string, cookie string) ([]container, error) {
	ids := make([]string, n)
	err := inParallel(n, startParallel, func(i int) (err error) {
		args := []string{"run", "-d"}
		for _, l := range labels {
			args = append(args, "--label", l)
		}
		args = append(args, "-v", "/usr:/usr:ro", image,
			"erl", "-sname", "app", "-setcookie", cookie, "-noshell", "-noinput")
		ids[i], err = dockerCLI(ctx, 2*time.Minute, args...)
		return err
	})
	if err != nil {
		return nil, err
	}

	out, err := dockerCLI(ctx, time.Minute, append([]string{"inspect", "--format",
		"{{.Id}} {{.Config.Hostname}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"}, ids...)...)
	if err != nil {
		return nil, err
	}
	var cs []container
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("container without an address: %q", line)
		}
		cs = append(cs, container{ID: f[0], Hostname: f[1], IP: f[2], Node: "app@" + f[1]})
	}

	deadline := time.Now().Add(90 * time.Second)
	return cs, inParallel(len(cs), len(cs), func(i int) error {
		return waitRegistered(ctx, cs[i], deadline)
	})
}

// sleeper is a running container with no Erlang node, named for lookups.
type sleeper struct{ ID, Name string }

// startSleepers starts n containers that only sleep, labelled for this
// run and named prefix-0, prefix-1, ..., a few at a time.
func startSleepers(ctx context.Context, n int, image string, labels []string, prefix string) ([]sleeper, error) {
	out := make([]sleeper, n)
	return out, inParallel(n, startParallel, func(i int) (err error) {
		name := fmt.Sprintf("%s-%d", prefix, i)
		args := []string{"run", "-d", "--name", name}
		for _, l := range labels {
			args = append(args, "--label", l)
		}
		args = append(args, "-v", "/usr:/usr:ro", image, "sleep", "3600")
		out[i].Name = name
		out[i].ID, err = dockerCLI(ctx, 2*time.Minute, args...)
		return err
	})
}

// startParallel is how many `docker run` go at once.
const startParallel = 8

// inParallel runs fn(0), ..., fn(n-1), at most parallel at a time, and
// returns their errors joined.
func inParallel(n, parallel int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitRegistered waits until the epmd in c knows the node app.
func waitRegistered(ctx context.Context, c container, deadline time.Time) error {
	var last string
	for time.Now().Before(deadline) {
		names, err := epmdNames(ctx, c.IP)
		if err == nil && strings.Contains(names, "name app at port") {
			return nil
		}
		last = fmt.Sprint(names, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("node app in container %.12s did not register with its epmd: %s", c.ID, last)
}

// epmdNames asks the epmd at ip for its names (NAMES_REQ): what
// `epmd -names` prints, without a docker exec.
func epmdNames(ctx context.Context, ip string) (string, error) {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, "4369"))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	req := make([]byte, 3)
	binary.BigEndian.PutUint16(req, 1)
	req[2] = 110 // NAMES_REQ
	if _, err := conn.Write(req); err != nil {
		return "", err
	}
	resp, err := io.ReadAll(io.LimitReader(conn, 1<<20))
	if err != nil {
		return "", err
	}
	if len(resp) < 4 {
		return "", fmt.Errorf("short epmd answer")
	}
	return string(resp[4:]), nil
}

// removeContainers removes every container with the run's label, however
// far the run got.
func removeContainers(runLabel string) {
	ctx := context.Background()
	out, err := dockerCLI(ctx, time.Minute, "ps", "-aq", "--filter", "label="+runLabel)
	if err != nil || out == "" {
		return
	}
	ids := strings.Fields(out)
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 25)]
		ids = ids[len(batch):]
		_, _ = dockerCLI(ctx, 2*time.Minute, append([]string{"rm", "-f"}, batch...)...)
	}
}
