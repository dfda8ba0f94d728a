package docker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/dockertest"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

func TestConfigAgainstDaemon(t *testing.T) {
	c := dockertest.Require(t, New)
	id := dockertest.RunContainer(t, "-e", "RELEASE_COOKIE=from-env", "-e", "OTHER=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	cfg, err := c.Config(ctx, id)
	if err != nil {
		t.Fatalf("Config(%s): %v", id, err)
	}
	if cfg.Image != dockertest.Image {
		t.Errorf("Image = %q, want %q", cfg.Image, dockertest.Image)
	}
	if want := []string{"sleep", "600"}; !slices.Equal(cfg.Cmd, want) {
		t.Errorf("Cmd = %q, want %q", cfg.Cmd, want)
	}
	if v, name, ok := cfg.Lookup("ERLANG_COOKIE", "RELEASE_COOKIE"); !ok || v != "from-env" || name != "RELEASE_COOKIE" {
		t.Errorf("Lookup = %q, %q, %v; want from-env, RELEASE_COOKIE, true", v, name, ok)
	}
	if _, _, ok := cfg.Lookup("NOT_SET"); ok {
		t.Error("Lookup(NOT_SET) found something")
	}

	if _, err := c.Config(ctx, "no-such-container-"+dockertest.Unique(t)); !errors.Is(err, wire.ErrNotFound) {
		t.Errorf("Config of a missing container: got %v, want wire.ErrNotFound", err)
	}
}
