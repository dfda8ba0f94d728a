package reach

import (
	"context"
	"net/netip"
	"testing"
)

// A daemon reached over SSH is tunnelled to in auto mode, without asking
// DNS for the server (it may be a Host alias of ~/.ssh/config); a forced
// published mode still uses the server's published ports.
func TestDecideSSH(t *testing.T) {
	asked := 0
	look := func(context.Context, string) ([]netip.Addr, error) {
		asked++
		return []netip.Addr{netip.MustParseAddr("192.0.2.9")}, nil
	}
	for _, tt := range []struct {
		mode Mode
		want Mode
		dns  int
	}{{Auto, Tunnel, 0}, {Tunnel, Tunnel, 0}, {Published, Published, 1}, {Direct, Direct, 1}} {
		asked = 0
		d := &Decider{Mode: tt.mode, DockerHost: "ssh://me@build", LookupHost: look}
		got, err := d.Decide(context.Background())
		if err != nil || got.Mode != tt.want || asked != tt.dns {
			t.Errorf("mode %s: got %+v, %v after %d lookups; want %s after %d", tt.mode, got, err, asked, tt.want, tt.dns)
		}
	}
}

func TestParseModeTunnel(t *testing.T) {
	if m, err := ParseMode("Tunnel"); err != nil || m != Tunnel {
		t.Fatalf("ParseMode(Tunnel) = %v, %v", m, err)
	}
}
