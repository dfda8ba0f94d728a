package dist

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/epmd-docker/epmd_docker/go/internal/epmd"
)

func TestDigest(t *testing.T) {
	// From a real erl: binary:encode_hex(erlang:md5(["secret"|integer_to_list(4294967295)])).
	tests := []struct {
		challenge uint32
		cookie    string
		want      string
	}{
		{4294967295, "secret", "5dfd181e69aa587cc812eb333e6536b6"},
		{0, "", "cfcd208495d565ef66e7dff9f98764da"}, // md5("0")
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(Digest(tt.challenge, tt.cookie)); got != tt.want {
			t.Errorf("Digest(%d, %q): got %s, want %s", tt.challenge, tt.cookie, got, tt.want)
		}
	}
}

// fakeNode accepts one connection and plays the node's side with the
// given answers, after reading send_name: a nil answer reads the client's
// next message instead. With no answers it stays silent.
func fakeNode(t *testing.T, answers ...[]byte) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := recv(c); err != nil {
			return
		}
		for _, a := range answers {
			if a == nil { // wait for the client's next message
				if _, err := recv(c); err != nil {
					return
				}
				continue
			}
			c.Write(a)
		}
		if len(answers) == 0 { // silent: hold the line until the client goes
			io.Copy(io.Discard, c)
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func framed(b []byte) []byte {
	return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
}

func challengeMsg(name string) []byte {
	m := []byte{'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 1, 0, byte(len(name))}
	return framed(append(m, name...))
}

func TestHandshakeFake(t *testing.T) {
	tests := []struct {
		name     string
		answers  [][]byte
		complete bool
		want     string
		err      error
	}{
		{"name", [][]byte{framed([]byte("sok")), challengeMsg("app@web")}, false, "app@web", nil},
		{"not allowed", [][]byte{framed([]byte("snot_allowed"))}, false, "", ErrNotAllowed},
		{"alive", [][]byte{framed([]byte("salive"))}, false, "", ErrBusy},
		{"garbage status", [][]byte{framed([]byte("HTTP/1.1"))}, false, "", ErrProtocol},
		{"old node", [][]byte{framed([]byte("sok")), framed([]byte("n\x00\x05"))}, false, "", ErrProtocol},
		{"hang up on digest", [][]byte{framed([]byte("sok")), challengeMsg("app@web"), nil}, true, "app@web", ErrBadCookie},
		{"wrong ack", [][]byte{framed([]byte("sok")), challengeMsg("app@web"), nil, framed(append([]byte{'a'}, make([]byte, 16)...))}, true, "app@web", ErrBadCookie},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeNode(t, tt.answers...)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, err := handshake(ctx, addr, "probe@here", "c", tt.complete)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error: got %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHandshakeDeadline(t *testing.T) {
	addr := fakeNode(t) // reads send_name, then says nothing
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Name(ctx, addr, "probe@here"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error: got %v, want deadline exceeded", err)
	}
}

// TestRealNode runs the handshake against a real node in a container:
// its name, a right cookie, a wrong one.
func TestRealNode(t *testing.T) {
	image := os.Getenv("EPMD_DOCKER_TEST_IMAGE")
	if image == "" {
		image = "epmd-docker-test:latest"
	}
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		t.Skipf("no docker or no test image %s: %v", image, err)
	}
	out, err := exec.Command("docker", "run", "-d", "--label", "epmd-docker-test=1", "-v", "/usr:/usr:ro",
		"--hostname", "disttest", image, "erl", "-sname", "app", "-setcookie", "right", "-noshell", "-noinput").Output()
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	out, err = exec.Command("docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr(strings.TrimSpace(string(out)))

	var port int
	for deadline := time.Now().Add(30 * time.Second); port == 0; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		nodes, _ := epmd.Names(ctx, netip.AddrPortFrom(ip, epmd.DefaultPort))
		cancel()
		if len(nodes) == 1 {
			port = nodes[0].Port
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node never registered")
		}
		time.Sleep(100 * time.Millisecond)
	}
	addr := netip.AddrPortFrom(ip, uint16(port))
	host, _ := os.Hostname()
	self := "disttest@" + strings.SplitN(host, ".", 2)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if got, err := Name(ctx, addr, self); err != nil || got != "app@disttest" {
		t.Errorf("Name: got %q, %v; want app@disttest", got, err)
	}
	// A name of its own for each handshake: the node may still hold the
	// previous connection under the old name for a moment (ErrBusy).
	if got, err := Check(ctx, addr, "right"+self, "right"); err != nil || got != "app@disttest" {
		t.Errorf("Check with the right cookie: got %q, %v; want app@disttest", got, err)
	}
	if _, err := Check(ctx, addr, "wrong"+self, "wrong"); !errors.Is(err, ErrBadCookie) {
		t.Errorf("Check with a wrong cookie: got %v, want ErrBadCookie", err)
	}

	// Only the wrong cookie is worth a line in the node's log.
	time.Sleep(200 * time.Millisecond)
	logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
	// (OTP 25 prints each report twice in a container: count kinds.)
	reports := strings.Count(string(logs), "ERROR REPORT")
	rejected := strings.Count(string(logs), "Invalid challenge reply")
	if rejected == 0 || reports != rejected {
		t.Errorf("node logged %d reports, %d of them the wrong cookie; want only the wrong cookie:\n%s", reports, rejected, logs)
	}
}
