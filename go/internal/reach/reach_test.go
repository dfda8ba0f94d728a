package reach

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/epmd-docker/epmd_docker/go/internal/docker"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

type fakeInfo struct {
	info  docker.Info
	err   error
	calls int
}

func (f *fakeInfo) Info(context.Context) (docker.Info, error) {
	f.calls++
	return f.info, f.err
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, " Published ": Published, "direct": Direct} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseMode("nat"); err == nil {
		t.Error("ParseMode(nat): no error")
	}
}

func TestRemoteHost(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///var/run/docker.sock": "",
		"tcp://127.0.0.1:2375":        "",
		"tcp://localhost:2375":        "",
		"tcp://[::1]:2375":            "",
		"tcp://192.0.2.7:2376":        "192.0.2.7",
		"ssh://me@build.example":      "build.example",
		"npipe:////./pipe/docker":     "",
	} {
		if got := RemoteHost(in); got != want {
			t.Errorf("RemoteHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecide(t *testing.T) {
	local := "unix:///var/run/docker.sock"
	tests := []struct {
		name string
		mode Mode
		host string
		info docker.Info
		want Mode
	}{
		{"auto, local engine", Auto, local, docker.Info{OperatingSystem: "Debian GNU/Linux 12 (bookworm)"}, Direct},
		{"auto, desktop", Auto, local, docker.Info{OperatingSystem: "Docker Desktop"}, Published},
		{"auto, rootless", Auto, local, docker.Info{SecurityOptions: []string{"name=seccomp,profile=builtin", "name=rootless"}}, Published},
		{"auto, remote", Auto, "tcp://192.0.2.7:2376", docker.Info{}, Published},
		{"forced published", Published, local, docker.Info{}, Published},
		{"forced direct, desktop", Direct, local, docker.Info{OperatingSystem: "Docker Desktop"}, Direct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeInfo{info: tt.info}
			d := &Decider{Mode: tt.mode, DockerHost: tt.host, API: f}
			for range 2 {
				got, err := d.Decide(context.Background())
				if err != nil || got.Mode != tt.want {
					t.Fatalf("got %+v, %v; want %v", got, err, tt.want)
				}
			}
			if f.calls > 1 {
				t.Errorf("asked the daemon %d times, want at most once", f.calls)
			}
		})
	}
}

func TestDecideRetriesAfterFailure(t *testing.T) {
	f := &fakeInfo{err: wire.ErrUnavailable}
	d := &Decider{Mode: Auto, DockerHost: "unix:///var/run/docker.sock", API: f}
	if _, err := d.Decide(context.Background()); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	f.err, f.info = nil, docker.Info{OperatingSystem: "Docker Desktop"}
	if got, err := d.Decide(context.Background()); err != nil || got.Mode != Published {
		t.Fatalf("after the daemon answered: got %+v, %v", got, err)
	}
}

func TestDecideRemoteName(t *testing.T) {
	d := &Decider{Mode: Auto, DockerHost: "tcp://build.example:2376",
		LookupHost: func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.9")}, nil
		}}
	got, err := d.Decide(context.Background())
	if err != nil || got.Mode != Published || got.Remote != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("got %+v, %v; want published at 192.0.2.9", got, err)
	}
}
