package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestObserverFromTheHost runs observer (Debian's erlang-observer) on the
// host, under Xvfb, on an admin node that uses epmd_docker, switches it to
// a container node through its Nodes menu (OTP 25's observer exports only
// start/0), and takes a screenshot of that node's System page.
// EPMD_DOCKER_OBSERVER_PNG names a file to copy the screenshot to (the
// README's docs/observer.png).
func TestObserverFromTheHost(t *testing.T) {
	for _, tool := range []string{"Xvfb", "xdotool", "import"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (test/setup.sh installs xvfb, xdotool, imagemagick)", tool)
		}
	}
	if out, _ := exec.Command("erl", "-noshell", "-eval", "io:put_chars(code:which(observer)), halt().").Output(); !strings.HasSuffix(string(out), ".beam") {
		t.Fatal("observer is missing (test/setup.sh installs erlang-observer)")
	}
	display := startXvfb(t)
	x := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("xdotool", args...)
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("xdotool %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	c := startNode(t, nodeSpec{DockerArgs: []string{"--hostname", "web-" + randHex(2)}})
	if got := runHelper(t, nil, nil, "eval", c.Node, "erlang:module_loaded(observer_backend).").stdout; got != "false\n" {
		t.Fatalf("observer_backend is loaded on the fresh node already: %q", got)
	}

	// The admin node is visible, not hidden: observer's Nodes menu lists
	// nodes(), which leaves hidden connections out. It sorts after "app".
	name := "zz-observer-" + randHex(2)
	args := adminArgs("-sname", name, "-noshell", "-eval",
		fmt.Sprintf("true = net_kernel:connect_node('%s'), observer:start().", c.Node))
	admin := exec.Command("erl", args...)
	admin.Env = append(os.Environ(), "DISPLAY="+display)
	var out lockedBuffer
	admin.Stdout, admin.Stderr = &out, &out
	if err := admin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Process.Kill(); _ = admin.Wait() })

	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.Command("xdotool", "search", "--name", "Observer")
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		if b, _ := cmd.Output(); len(bytes.TrimSpace(b)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no observer window; the admin node said:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// With no window manager the window sits at 0,0: the Nodes menu is
	// the third in its menu bar, and the container's node its first entry.
	// Observer loads its backend on the node it shows. The menu opens
	// asynchronously: a selection that missed it is tried again.
	switched := func() bool {
		return runHelper(t, nil, nil, "eval", c.Node, "erlang:module_loaded(observer_backend).").stdout == "true\n"
	}
	for try := 0; !switched(); try++ {
		if try == 5 {
			t.Fatalf("observer never switched to %s; the admin node said:\n%s", c.Node, out.String())
		}
		x("mousemove", "115", "12", "click", "1")
		time.Sleep(time.Duration(try+1) * 500 * time.Millisecond)
		x("key", "Down", "Return")
		for wait := time.Now().Add(10 * time.Second); !switched() && time.Now().Before(wait); {
			time.Sleep(500 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // for the picture: let the page redraw

	png := filepath.Join(t.TempDir(), "observer.png")
	shot := exec.Command("import", "-window", "root", "-crop", "850x600+0+0", png)
	shot.Env = append(os.Environ(), "DISPLAY="+display)
	if b, err := shot.CombinedOutput(); err != nil {
		t.Fatalf("import: %v: %s", err, b)
	}
	size, err := exec.Command("identify", "-format", "%wx%h", png).Output()
	if err != nil || string(size) != "850x600" {
		t.Fatalf("screenshot %s: %q, %v", png, size, err)
	}
	if dst := os.Getenv("EPMD_DOCKER_OBSERVER_PNG"); dst != "" {
		b, err := os.ReadFile(png)
		must(t, err)
		must(t, os.WriteFile(dst, b, 0o644))
		t.Logf("screenshot of %s written to %s", c.Node, dst)
	}
}

// startXvfb starts a virtual display on a free number and returns its
// DISPLAY; it is stopped when the test ends.
func startXvfb(t *testing.T) string {
	t.Helper()
	for n := 90; n < 200; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		d := fmt.Sprintf(":%d", n)
		cmd := exec.Command("Xvfb", d, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("Xvfb %s did not come up", d)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Fatal("no free display number")
	return ""
}
