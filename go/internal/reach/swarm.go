package reach

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/resolve"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// SwarmTaskLabel marks a container that Docker Swarm runs as a task.
const SwarmTaskLabel = "com.docker.swarm.task.id"

// SwarmAPI lists a swarm's tasks; *docker.Client implements it.
type SwarmAPI interface {
	Tasks(ctx context.Context) ([]docker.Task, error)
}

// How long the swarm's task list is kept, and how long a daemon that is
// no swarm manager is not asked again.
const (
	tasksTTL      = 2 * time.Second
	notManagerTTL = 30 * time.Second
)

// Swarm finds the tasks of a swarm that run on other nodes than this
// daemon's, which its container list does not show: by service name, task
// name or hostname (templates expanded). Such a task is reached at its
// node's address through a distribution port published in host mode
// (--publish mode=host,target=9100), or not at all: the error names the
// node it runs on.
type Swarm struct {
	API SwarmAPI

	mu       sync.Mutex
	tasks    []docker.Task
	at       time.Time
	quietTil time.Time // not a manager: not asked before
}

// Find answers host from the swarm's tasks on other nodes. It returns
// notFound unchanged when the daemon is no manager, or no remote task
// answers to host.
func (s *Swarm) Find(ctx context.Context, host string, fam wire.Family, notFound error) (netip.AddrPort, error) {
	tasks, err := s.list(ctx)
	if err != nil {
		return netip.AddrPort{}, notFound
	}
	hits := remoteTasks(tasks, host)
	switch len(hits) {
	case 0:
		return netip.AddrPort{}, notFound
	case 1:
	default:
		names := make([]string, len(hits))
		for i, t := range hits {
			names[i] = fmt.Sprintf("%s (on node %s)", t.Name, t.NodeName)
		}
		return netip.AddrPort{}, &wire.AmbiguousError{Host: host, Candidates: names}
	}
	t := hits[0]
	p := PublishedPorts{Label: t.Labels[DistPortLabel], Ports: t.Ports}
	ap, err := p.Dial(fam, t.NodeAddr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolve %q: Swarm task %s runs on node %s (%v), not on this one, and %w; publish its distribution port in host mode (docker service update --publish-add mode=host,target=9100 %s)",
			host, t.Name, t.NodeName, t.NodeAddr, err, t.Service)
	}
	return ap, nil
}

// Ambiguous returns the error for a service name that matched the one
// task of m running here, when the service also runs elsewhere; nil when
// it does not, or the swarm cannot tell.
func (s *Swarm) Ambiguous(ctx context.Context, host string, m resolve.Match) error {
	if !slices.Equal(m.Forms, []resolve.Form{resolve.FormSwarm}) {
		return nil
	}
	tasks, err := s.list(ctx)
	if err != nil {
		return nil
	}
	hits := remoteTasks(tasks, host)
	if len(hits) == 0 {
		return nil
	}
	names := []string{fmt.Sprintf("%s (%.12s)", m.Container.Name, m.Container.ID)}
	for _, t := range hits {
		names = append(names, fmt.Sprintf("%s (on node %s)", t.Name, t.NodeName))
	}
	return &wire.AmbiguousError{Host: host, Candidates: names}
}

// list returns the swarm's tasks, from a copy at most tasksTTL old.
func (s *Swarm) list(ctx context.Context) ([]docker.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Before(s.quietTil) {
		return nil, docker.ErrNotManager
	}
	if s.tasks != nil && now.Sub(s.at) < tasksTTL {
		return s.tasks, nil
	}
	tasks, err := s.API.Tasks(ctx)
	if errors.Is(err, docker.ErrNotManager) {
		s.quietTil = now.Add(notManagerTTL)
	}
	if err != nil {
		return nil, err
	}
	if tasks == nil {
		tasks = []docker.Task{}
	}
	s.tasks, s.at = tasks, now
	return tasks, nil
}

// remoteTasks are the tasks on other nodes that answer to host.
func remoteTasks(tasks []docker.Task, host string) []docker.Task {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	var out []docker.Task
	for _, t := range tasks {
		if t.Local {
			continue
		}
		if h == strings.ToLower(t.Service) || h == strings.ToLower(t.Name) || t.Hostname != "" && h == strings.ToLower(t.Hostname) {
			out = append(out, t)
		}
	}
	return out
}
