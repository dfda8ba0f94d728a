package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/epmd-docker/epmd_docker/go/internal/kube"
	"github.com/epmd-docker/epmd_docker/go/internal/kube/kubetest"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// fakeDocker answers for the containers it holds, by host; every other
// host is not found, or all are unavailable when down.
type fakeDocker struct {
	hosts map[string]netip.Addr
	nodes []string
	down  bool
}

func (f fakeDocker) err(host string) error {
	if f.down {
		return fmt.Errorf("%w: down", wire.ErrUnavailable)
	}
	return fmt.Errorf("%w: %s", wire.ErrNotFound, host)
}

func (f fakeDocker) Endpoint(_ context.Context, host string, _ wire.Family) (wire.Endpoint, error) {
	if a, ok := f.hosts[host]; ok && !f.down {
		return wire.Endpoint{Addr: a}, nil
	}
	return wire.Endpoint{}, f.err(host)
}

func (f fakeDocker) Peek(host string, fam wire.Family) (wire.Endpoint, bool, error) {
	e, err := f.Endpoint(context.Background(), host, fam)
	return e, true, err
}

func (f fakeDocker) List(context.Context) ([]wire.Container, error) {
	if f.down {
		return nil, f.err("")
	}
	return []wire.Container{{ID: "c1", Name: "web", Hostname: "web"}}, nil
}

func (f fakeDocker) Nodes(context.Context) ([]string, error) {
	if f.down {
		return nil, f.err("")
	}
	return f.nodes, nil
}

// TestLookupChain: Docker first; a pod only for a host no container
// answers to, or when Docker cannot be asked; Docker's answer when no pod
// answers either; a pod's ambiguity as it is.
func TestLookupChain(t *testing.T) {
	api, err := kubetest.New(
		kubetest.Pod("def", "web", "", "", "10.1.0.10"),
		kubetest.Pod("def", "web-0", "", "", "10.1.0.11"),
		kubetest.Pod("def", "a", "twin", "", "10.1.0.12"),
		kubetest.Pod("def", "b", "twin", "", "10.1.0.13"),
	)
	if err != nil {
		t.Fatal(err)
	}
	cluster := kube.NewWith(api, "def", nil, kube.Config{Reach: kube.ReachDirect})
	defer cluster.Close()
	container := netip.MustParseAddr("172.17.0.2")
	for _, down := range []bool{false, true} {
		d := fakeDocker{hosts: map[string]netip.Addr{"web": container}, down: down}
		l := &lookupChain{docker: d, kube: cluster, log: slog.New(slog.DiscardHandler)}
		webWant := container
		if down {
			webWant = netip.MustParseAddr("10.1.0.10")
		}
		for _, tc := range []struct {
			host string
			want netip.Addr
		}{{"web", webWant}, {"web-0", netip.MustParseAddr("10.1.0.11")}, {"web-0.def", netip.MustParseAddr("10.1.0.11")}} {
			e, err := l.Endpoint(context.Background(), tc.host, wire.Inet)
			if err != nil || e.Addr != tc.want {
				t.Errorf("docker down %v: Endpoint(%s) = %v, %v; want %v", down, tc.host, e, err, tc.want)
			}
			// From memory, now that the namespace is watched.
			e, ok, err := l.Peek(tc.host, wire.Inet)
			if !ok || err != nil || e.Addr != tc.want {
				t.Errorf("docker down %v: Peek(%s) = %v, %v, %v; want %v", down, tc.host, e, ok, err, tc.want)
			}
		}
		_, err := l.Endpoint(context.Background(), "nosuch", wire.Inet)
		wantReason := wire.ReasonNotFound
		if down {
			wantReason = wire.ReasonDockerUnavailable
		}
		if got := wire.ReasonOf(err); got != wantReason {
			t.Errorf("docker down %v: Endpoint(nosuch): %v (%s), want Docker's %s", down, err, got, wantReason)
		}
		var amb *wire.AmbiguousError
		if _, err := l.Endpoint(context.Background(), "twin", wire.Inet); !errors.As(err, &amb) || len(amb.Candidates) != 2 {
			t.Errorf("docker down %v: Endpoint(twin): %v, want ambiguous between two pods", down, err)
		}
		cs, err := l.List(context.Background())
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		want := []string{"web", "a.def", "b.def", "web.def", "web-0.def"}
		if down {
			want = want[1:]
		}
		if err != nil || !slices.Equal(names, want) {
			t.Errorf("docker down %v: List = %v, %v; want %v", down, names, err, want)
		}
	}
}
