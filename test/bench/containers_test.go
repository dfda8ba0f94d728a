package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inParallel runs every index once, never more than parallel at a time,
// and returns every error.
func TestInParallel(t *testing.T) {
	var running, most atomic.Int32
	seen := make([]atomic.Int32, 20)
	err := inParallel(len(seen), 3, func(i int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		seen[i].Add(1)
		time.Sleep(10 * time.Millisecond)
		if i%7 == 0 {
			return fmt.Errorf("failed %d", i)
		}
		return nil
	})
	for i := range seen {
		if got := seen[i].Load(); got != 1 {
			t.Errorf("fn(%d) ran %d times, want 1", i, got)
		}
	}
	if got := most.Load(); got > 3 || got < 2 {
		t.Errorf("at most %d ran at once, want 3 (and more than 1)", got)
	}
	for _, i := range []int{0, 7, 14} {
		if !strings.Contains(fmt.Sprint(err), fmt.Sprintf("failed %d", i)) {
			t.Errorf("error %q does not say that %d failed", err, i)
		}
	}
	if strings.Count(fmt.Sprint(err), "failed") != 3 {
		t.Errorf("error %q: want exactly 3 failures", err)
	}
}

// The bench's containers, against the real daemon: nodes that registered
// with their epmd, sleepers by name, and nothing left after
// removeContainers.
func TestStartContainers(t *testing.T) {
	const img = "epmd-docker-test:latest"
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("skipping: no docker CLI")
	}
	if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
		t.Skipf("skipping: test image %s is missing (test/setup.sh builds it)", img)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runLabel := "epmd-docker-bench=test-" + randHex(4)
	t.Cleanup(func() { removeContainers(runLabel) })
	labels := []string{"epmd-docker-test=1", runLabel}

	cs, err := startContainers(ctx, 3, img, labels, "cookie"+randHex(4))
	if err != nil {
		t.Fatalf("startContainers: %v", err)
	}
	if len(cs) != 3 {
		t.Fatalf("got %d containers, want 3", len(cs))
	}
	for _, c := range cs {
		if c.ID == "" || c.IP == "" || c.Node != "app@"+c.Hostname {
			t.Errorf("container %+v: want an ID, an address and node app@hostname", c)
		}
	}
	prefix := "bench-test-" + randHex(3)
	ss, err := startSleepers(ctx, 3, img, labels, prefix)
	if err != nil {
		t.Fatalf("startSleepers: %v", err)
	}
	for i, s := range ss {
		if want := fmt.Sprintf("%s-%d", prefix, i); s.Name != want || s.ID == "" {
			t.Errorf("sleeper %d is %+v, want name %s and an ID", i, s, want)
		}
	}
	out, err := dockerCLI(ctx, time.Minute, "ps", "-q", "--filter", "label="+runLabel)
	if err != nil || len(strings.Fields(out)) != 6 {
		t.Fatalf("running with the run's label: %q (%v), want 6", out, err)
	}

	removeContainers(runLabel)
	out, err = dockerCLI(ctx, time.Minute, "ps", "-aq", "--filter", "label="+runLabel)
	if err != nil || out != "" {
		t.Errorf("after removeContainers: %q (%v), want none", out, err)
	}
}
