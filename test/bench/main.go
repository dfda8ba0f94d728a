// Command bench is `make bench`: it measures epmd_docker against the
// approaches it replaces and against the physical floor, all in one run on
// one machine, and prints one Markdown table of medians and 99th
// percentiles, with ratios against the baselines of the same run.
//
// It starts N containers (50 by default) of the test image, each running an
// Erlang node, and three hidden Erlang nodes on the host, each running
// epmd_docker_bench (test/bench/epmd_docker_bench.erl) and driven through
// its standard input:
//
//	epmd_docker node   -epmd_module epmd_docker: the real helper, the real port
//	hosts-file node    ERL_INETRC naming every container (bench_hosts_file_epmd)
//	shell-out node     docker inspect forked per lookup (bench_docker_inspect_epmd)
//
// After the lookups, connections, start-ups and the helper's own costs, it
// times a Docker event's way into the epmd_docker node's table (docker stop
// of a sleeping container until the name no longer resolves there), a burst
// of 10,000 lookups at once while two busy loops keep both cores busy, and,
// with 450 more sleeping containers, what grows with their number (a list,
// a miss that lists, `epmd-docker ls`, the helper's memory). The targets of
// issue 11 are checked at the end, pass or fail.
//
// All timings of lookups and connections are taken inside those nodes with
// erlang:monotonic_time/0; the raw Docker API timings and the start-up times
// of erl are taken here. Each measurement is split into blocks run in turn
// with its baselines, so that a burst of load elsewhere on the machine does
// not fall on one side of a comparison only.
//
// Everything it starts carries the label epmd-docker-test=1 and one of its
// own for the run, and is removed when it ends, pass or fail (or on
// SIGINT/SIGTERM). Traffic goes only to the Docker socket, loopback and the
// containers.
//
// Usage (from the repository root, after `make all` and test/setup.sh):
//
//	go run ./test/bench [-containers 50] [-quick] [-out BENCHMARKS.md]
//
// With -out, the table and the verdict on each aim replace the part of that
// file between its generated-section markers; the rest is left as written.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

// settings of one run.
type settings struct {
	root       string // the repository
	ebin       string
	benchDir   string // where the bench's own beams are compiled
	image      string
	containers int
	quick      bool
	out        string

	runID  string
	cookie string
	labels []string // on every container: the test label and the run's
}

func run() int {
	var s settings
	flag.IntVar(&s.containers, "containers", 50, "container nodes to start (at least 10)")
	flag.BoolVar(&s.quick, "quick", false, "a tenth of the iterations: to try the bench out, not to quote")
	flag.StringVar(&s.out, "out", "", "also write the table into this file (BENCHMARKS.md) between its markers")
	flag.Parse()
	if s.containers < 10 {
		fmt.Fprintln(os.Stderr, "bench: -containers must be at least 10")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := s.init(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(s.benchDir)
	runLabel := "epmd-docker-bench=" + s.runID
	defer removeContainers(runLabel)

	res, err := measure(ctx, &s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	table := report(res)
	fmt.Print(table)
	if s.out != "" {
		if err := writeReport(s.out, table); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", s.out)
	}
	return 0
}

// init finds the build, compiles the bench's Erlang modules and makes up
// the run's names.
func (s *settings) init() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	s.root = wd
	for range 5 {
		if _, err := os.Stat(filepath.Join(s.root, "go.mod")); err == nil {
			break
		}
		s.root = filepath.Dir(s.root)
	}
	s.ebin = filepath.Join(s.root, "ebin")
	for _, p := range []string{filepath.Join(s.ebin, "epmd_docker.beam"), filepath.Join(s.root, "priv", "epmd-docker")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: run `make all` first (make bench does)", p)
		}
	}
	s.image = os.Getenv("EPMD_DOCKER_TEST_IMAGE")
	if s.image == "" {
		s.image = "epmd-docker-test:latest"
	}
	if _, err := dockerCLI(context.Background(), 30*time.Second, "image", "inspect", s.image); err != nil {
		return fmt.Errorf("test image %s is missing: run test/setup.sh first (make bench does): %v", s.image, err)
	}
	if err := enoughMemory(s.containers, countsFor(s.quick).sleepers); err != nil {
		return err
	}

	s.runID = randHex(4)
	s.cookie = "bench" + randHex(8)
	s.labels = []string{"epmd-docker-test=1", "epmd-docker-bench=" + s.runID}
	s.benchDir, err = os.MkdirTemp("", "epmd-docker-bench")
	if err != nil {
		return err
	}
	srcs, _ := filepath.Glob(filepath.Join(s.root, "test", "bench", "*.erl"))
	args := append([]string{"-Werror", "-o", s.benchDir}, srcs...)
	if out, err := exec.Command("erlc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("compiling the bench modules: %v\n%s", err, out)
	}
	return nil
}

// enoughMemory refuses to start more container nodes (each about 30 MB)
// and sleeping containers (a few MB) than the machine has room for.
func enoughMemory(n, sleepers int) error {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil // not Linux as we know it: let docker say no
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			if need := int64(n)*60*1024 + int64(sleepers)*10*1024 + 1024*1024; kb < need {
				return fmt.Errorf("%d container nodes and %d sleeping containers need about %d MB free; %d MB are available", n, sleepers, need/1024, kb/1024)
			}
		}
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort is a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
