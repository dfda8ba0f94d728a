package reach

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

type fakeSwarm struct {
	tasks []docker.Task
	err   error
	calls int
}

func (f *fakeSwarm) Tasks(context.Context) ([]docker.Task, error) {
	f.calls++
	return f.tasks, f.err
}

func TestSwarmFind(t *testing.T) {
	node2 := netip.MustParseAddr("192.0.2.12")
	f := &fakeSwarm{tasks: []docker.Task{
		{ID: "t1", Name: "web.1.t1", Service: "web", Hostname: "web-1", NodeName: "here", Local: true},
		{ID: "t2", Name: "web.2.t2", Service: "web", Hostname: "web-2", NodeName: "node2", NodeAddr: node2,
			Labels: map[string]string{DistPortLabel: "9100"},
			Ports:  []docker.Port{{Private: 9100, Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 9100}}},
		{ID: "t3", Name: "web.3.t3", Service: "web", Hostname: "web-3", NodeName: "node3", NodeAddr: netip.MustParseAddr("192.0.2.13")},
		{ID: "t4", Name: "db.1.t4", Service: "db", Hostname: "db-1", NodeName: "node3", NodeAddr: netip.MustParseAddr("192.0.2.13")},
	}}
	s := &Swarm{API: f}
	notFound := errors.New("not found here")
	ctx := context.Background()

	if ap, err := s.Find(ctx, "WEB-2.", wire.Inet, notFound); err != nil || ap != netip.AddrPortFrom(node2, 9100) {
		t.Errorf("web-2 (host-mode port on node2): got %v, %v; want %v:9100", ap, err, node2)
	}
	_, err := s.Find(ctx, "web-3", wire.Inet, notFound)
	if !errors.Is(err, wire.ErrNotPublished) || !strings.Contains(err.Error(), "node3") || !strings.Contains(err.Error(), "mode=host") {
		t.Errorf("web-3 (nothing published): got %v; want not_published naming node3 and how to publish", err)
	}
	var amb *wire.AmbiguousError
	if _, err := s.Find(ctx, "web", wire.Inet, notFound); !errors.As(err, &amb) || len(amb.Candidates) != 2 {
		t.Errorf("web (2 remote tasks): got %v; want ambiguous naming both", err)
	}
	if _, err := s.Find(ctx, "web-1", wire.Inet, notFound); err != notFound {
		t.Errorf("web-1 (local task, container not running): got %v; want not found unchanged", err)
	}
	if f.calls != 1 {
		t.Errorf("asked for the tasks %d times, want once within %v", f.calls, tasksTTL)
	}

	// The service name matched the one task here: ambiguous when it runs
	// elsewhere too.
	m := resolve.Match{Container: wire.Container{ID: "c4fe0000000000", Name: "db.2.t5"}, Forms: []resolve.Form{resolve.FormSwarm}}
	if err := s.Ambiguous(ctx, "db", m); !errors.As(err, &amb) || len(amb.Candidates) != 2 || !strings.Contains(err.Error(), "node3") {
		t.Errorf("db (a task here and one on node3): got %v; want ambiguous naming both", err)
	}
	m.Forms = []resolve.Form{resolve.FormHostname}
	if err := s.Ambiguous(ctx, "db", m); err != nil {
		t.Errorf("matched as a hostname: got %v, want nil", err)
	}
}

func TestSwarmNotManager(t *testing.T) {
	f := &fakeSwarm{err: docker.ErrNotManager}
	s := &Swarm{API: f}
	notFound := errors.New("not found here")
	for range 3 {
		if _, err := s.Find(context.Background(), "web", wire.Inet, notFound); err != notFound {
			t.Fatalf("got %v, want not found unchanged", err)
		}
	}
	if f.calls != 1 {
		t.Errorf("asked a daemon that is no manager %d times, want once", f.calls)
	}
}
