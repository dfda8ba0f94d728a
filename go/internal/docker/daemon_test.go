package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/context/store"
)

// writeContext stores a context as `docker context create NAME --docker
// host=HOST` does, with TLS files if given.
func writeContext(t *testing.T, cfgDir, name, host string, skipVerify bool, tlsFiles map[string][]byte) {
	t.Helper()
	s := store.New(filepath.Join(cfgDir, "contexts"), store.NewConfig(func() any { return &map[string]any{} }))
	meta := store.Metadata{Name: name, Metadata: map[string]any{},
		Endpoints: map[string]any{"docker": map[string]any{"Host": host, "SkipTLSVerify": skipVerify}}}
	if err := s.CreateOrUpdate(meta); err != nil {
		t.Fatal(err)
	}
	if tlsFiles != nil {
		if err := s.ResetEndpointTLSMaterial(name, "docker", &store.EndpointTLSData{Files: tlsFiles}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDaemonFromEnv(t *testing.T) {
	cfg := t.TempDir()
	writeContext(t, cfg, "colima", "unix:///home/me/.colima/default/docker.sock", false, nil)
	writeContext(t, cfg, "remote", "tcp://192.0.2.7:2376", true, nil)
	writeContext(t, cfg, "badca", "tcp://192.0.2.8:2376", false, map[string][]byte{"ca.pem": []byte("not a certificate")})
	configJSON := filepath.Join(cfg, "config.json")
	if err := os.WriteFile(configJSON, []byte(`{"auths": {}, "currentContext": "colima"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		host, context       string
		wantHost, wantCtx   string
		wantSource          Source
		wantInsecure, noTLS bool
	}{
		{"DOCKER_HOST first", "tcp://127.0.0.1:2375", "remote", "tcp://127.0.0.1:2375", DefaultContext, FromDockerHost, false, true},
		{"DOCKER_CONTEXT over currentContext", "", "remote", "tcp://192.0.2.7:2376", "remote", FromDockerContext, true, false},
		{"DOCKER_CONTEXT=default", "", "default", "unix:///var/run/docker.sock", DefaultContext, FromDockerContext, false, true},
		{"currentContext", "", "", "unix:///home/me/.colima/default/docker.sock", "colima", FromConfig, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_CONFIG", cfg)
			t.Setenv("DOCKER_HOST", tt.host)
			t.Setenv("DOCKER_CONTEXT", tt.context)
			d, err := DaemonFromEnv()
			if err != nil {
				t.Fatal(err)
			}
			if d.Host != tt.wantHost || d.Context != tt.wantCtx || d.Source != tt.wantSource {
				t.Errorf("got %s, context %s, from %s; want %s, %s, %s", d.Host, d.Context, d.Source, tt.wantHost, tt.wantCtx, tt.wantSource)
			}
			if (d.TLS == nil) != tt.noTLS || (d.TLS != nil && d.TLS.InsecureSkipVerify != tt.wantInsecure) {
				t.Errorf("TLS %+v; want none %v, insecure %v", d.TLS, tt.noTLS, tt.wantInsecure)
			}
			if tt.wantSource == FromConfig && !strings.Contains(d.Why(), configJSON) {
				t.Errorf("Why() = %q, want it to name %s", d.Why(), configJSON)
			}
			if _, err := NewAt(d); err != nil {
				t.Errorf("NewAt: %v", err)
			}
		})
	}

	t.Run("missing context", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", cfg)
		t.Setenv("DOCKER_HOST", "")
		t.Setenv("DOCKER_CONTEXT", "nosuch")
		if _, err := DaemonFromEnv(); err == nil || !strings.Contains(err.Error(), "nosuch") {
			t.Errorf("got %v, want an error naming the context", err)
		}
	})
	t.Run("bad TLS material", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", cfg)
		t.Setenv("DOCKER_HOST", "")
		t.Setenv("DOCKER_CONTEXT", "badca")
		if _, err := DaemonFromEnv(); err == nil || !strings.Contains(err.Error(), "ca.pem") {
			t.Errorf("got %v, want an error naming ca.pem", err)
		}
	})
	t.Run("unreadable config.json", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_CONFIG", dir)
		t.Setenv("DOCKER_HOST", "")
		t.Setenv("DOCKER_CONTEXT", "")
		d, err := DaemonFromEnv()
		if err != nil || d.Source != FromDefault || d.Warning == "" {
			t.Errorf("got %+v, %v; want the default socket with a warning, as the docker CLI", d, err)
		}
	})
}
