package docker

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// Config is how a container was started: its image, environment and
// command line, which the command-line face reads (the cookie for
// `remsh --cookie-from-container`, whether `doctor` should expect an epmd).
// It is not part of Details, so the long-lived helper, which caches
// Details, never holds a container's environment and the secrets in it.
type Config struct {
	Image string
	Env   []string // KEY=VALUE
	Cmd   []string // entrypoint and command, as run
}

// Config inspects container id for how it was started (GET
// /containers/{id}/json, as Inspect).
func (c *Client) Config(ctx context.Context, id string) (Config, error) {
	r, err := c.api.ContainerInspect(ctx, id)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return Config{}, fmt.Errorf("inspect container %s: %w", id, wire.ErrNotFound)
		}
		return Config{}, c.wrap(ctx, "inspect container "+id, err)
	}
	var cfg Config
	if r.Config != nil {
		cfg.Image = r.Config.Image
		cfg.Env = r.Config.Env
	}
	if r.ContainerJSONBase != nil {
		cfg.Cmd = append([]string{r.Path}, r.Args...)
	}
	return cfg, nil
}

// Lookup returns the value of the first of names set in the environment,
// and which name it was.
func (cfg Config) Lookup(names ...string) (value, name string, ok bool) {
	for _, n := range names {
		for _, kv := range cfg.Env {
			if v, found := strings.CutPrefix(kv, n+"="); found {
				return v, n, true
			}
		}
	}
	return "", "", false
}
