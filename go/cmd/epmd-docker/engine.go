package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// engine asks the Docker daemon what only the command-line face needs and
// package docker does not offer: the daemon's kind, and a container's
// environment and command line. Like package docker it is read-only and
// configured as the docker CLI would be.
//
// TODO(lead): these belong in go/internal/docker (an Info call, and Env,
// Cmd and Image in Details); they are here only because that package had
// another owner while this was written.
type engine struct {
	api *client.Client
}

func newEngine() (*engine, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client from environment: %w", err)
	}
	return &engine{api: c}, nil
}

func (e *engine) Close() error { return e.api.Close() }

// daemonInfo is what tells a daemon's kind apart.
type daemonInfo struct {
	Name            string   // the daemon host's name
	OperatingSystem string   // "Debian GNU/Linux 12 (bookworm)", "Docker Desktop", ...
	SecurityOptions []string // "name=rootless" for a rootless daemon
}

// rootless reports whether the daemon runs rootless, its container network
// inside a namespace of its own.
func (d daemonInfo) rootless() bool {
	return slices.Contains(d.SecurityOptions, "name=rootless")
}

// desktop reports whether the daemon is Docker Desktop's, inside a VM.
func (d daemonInfo) desktop() bool {
	return strings.Contains(d.OperatingSystem, "Docker Desktop")
}

func (e *engine) info(ctx context.Context) (daemonInfo, error) {
	i, err := e.api.Info(ctx)
	if ctx.Err() != nil {
		return daemonInfo{}, fmt.Errorf("docker info: %w", ctx.Err())
	}
	if err != nil {
		return daemonInfo{}, fmt.Errorf("docker info: %w: %v", wire.ErrUnavailable, err)
	}
	return daemonInfo{Name: i.Name, OperatingSystem: i.OperatingSystem, SecurityOptions: i.SecurityOptions}, nil
}

// containerConfig is how a container was started.
type containerConfig struct {
	Image string
	Env   []string // KEY=VALUE
	Cmd   []string // entrypoint and command, as run
}

func (e *engine) config(ctx context.Context, id string) (containerConfig, error) {
	r, err := e.api.ContainerInspect(ctx, id)
	switch {
	case cerrdefs.IsNotFound(err):
		return containerConfig{}, fmt.Errorf("inspect container %s: %w", shortID(id), wire.ErrNotFound)
	case ctx.Err() != nil:
		return containerConfig{}, fmt.Errorf("inspect container %s: %w", shortID(id), ctx.Err())
	case err != nil:
		return containerConfig{}, fmt.Errorf("inspect container %s: %w: %v", shortID(id), wire.ErrUnavailable, err)
	}
	var c containerConfig
	if r.Config != nil {
		c.Image = r.Config.Image
		c.Env = r.Config.Env
	}
	if r.ContainerJSONBase != nil {
		c.Cmd = append([]string{r.Path}, r.Args...)
	}
	return c, nil
}

// env returns the value of the first of names set in the container's
// environment, and which one it was.
func (c containerConfig) env(names ...string) (value, name string, ok bool) {
	for _, n := range names {
		for _, kv := range c.Env {
			if v, found := strings.CutPrefix(kv, n+"="); found {
				return v, n, true
			}
		}
	}
	return "", "", false
}
