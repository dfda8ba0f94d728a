package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/epmd-docker/epmd_docker/go/internal/kube"
	"github.com/epmd-docker/epmd_docker/go/internal/port"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// newCluster returns the Kubernetes backend, configured from the
// environment; it reads no kubeconfig until first used.
func newCluster(log *slog.Logger) (*kube.Cluster, error) {
	cfg, err := kube.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return &kube.Cluster{Config: cfg, Log: log, Self: probeName()}, nil
}

// dockerBackend is what port mode asks first: the Docker locator and its
// node finder.
type dockerBackend interface {
	port.Backend
	port.NodeFinder
}

// lookupChain is port mode's backend: Docker first, then, for a host that
// no running container answers to (or when Docker cannot be asked), the
// Kubernetes cluster of the kubeconfig's current context.
type lookupChain struct {
	docker dockerBackend
	kube   *kube.Cluster
	log    *slog.Logger
}

// askKube tells whether Docker's answer leaves the host to Kubernetes.
func askKube(err error) bool {
	return errors.Is(err, wire.ErrNotFound) || wire.ReasonOf(err) == wire.ReasonDockerUnavailable
}

// orDocker is Kubernetes' answer, or Docker's when Kubernetes knows no
// such pod (or there is no cluster).
func orDocker(derr, kerr error) error {
	if errors.Is(kerr, wire.ErrNotFound) {
		return derr
	}
	return kerr
}

func (l *lookupChain) Endpoint(ctx context.Context, host string, fam wire.Family) (wire.Endpoint, error) {
	e, err := l.docker.Endpoint(ctx, host, fam)
	if err == nil || !askKube(err) {
		return e, err
	}
	ke, kerr := l.kube.Endpoint(ctx, host, fam)
	if kerr == nil {
		return ke, nil
	}
	return wire.Endpoint{}, orDocker(err, kerr)
}

func (l *lookupChain) Peek(host string, fam wire.Family) (wire.Endpoint, bool, error) {
	e, ok, err := l.docker.Peek(host, fam)
	if !ok || err == nil || !askKube(err) {
		return e, ok, err
	}
	ke, ok, kerr := l.kube.Peek(host, fam)
	switch {
	case !ok:
		return wire.Endpoint{}, false, nil
	case kerr == nil:
		return ke, true, nil
	}
	return wire.Endpoint{}, true, orDocker(err, kerr)
}

func (l *lookupChain) List(ctx context.Context) ([]wire.Container, error) {
	cs, err := l.docker.List(ctx)
	return merge(l, "list", cs, err, l.kube.List, ctx)
}

func (l *lookupChain) Nodes(ctx context.Context) ([]string, error) {
	ns, err := l.docker.Nodes(ctx)
	out, err := merge(l, "nodes", ns, err, l.kube.Nodes, ctx)
	slices.Sort(out)
	return slices.Compact(out), err
}

// merge adds Kubernetes' answer to Docker's: either may fail alone.
func merge[T any](l *lookupChain, what string, got []T, err error, more func(context.Context) ([]T, error), ctx context.Context) ([]T, error) {
	kgot, kerr := more(ctx)
	switch {
	case kerr == nil:
		return append(got, kgot...), nil
	case errors.Is(kerr, kube.ErrNoKubeconfig):
		return got, err
	case err == nil:
		l.log.Warn("kubernetes pods left out of "+what, "err", kerr)
		return got, nil
	}
	return nil, err
}
