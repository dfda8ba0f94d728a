package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// secretNode starts a container whose node has cookie, read from a cookie
// file: on no command line, so that a test can look for the cookie in
// the process list and find it only where epmd-docker leaked it.
func secretNode(t *testing.T, name, cookie string, opts ...string) ctr {
	t.Helper()
	opts = append(opts, "-e", "HOME=/tmp", "-e", "C="+cookie)
	c := start(t, name, opts, "sh", "-c",
		`umask 077; printf %s "$C" > /tmp/.erlang.cookie; unset C; exec erl -sname app -noshell -noinput`)
	waitNodes(t, c, 1)
	return c
}

func TestRemshDryRun(t *testing.T) {
	needDocker(t)
	needErl(t)
	cookie := "sekrit" + runID
	c := secretNode(t, "dry", cookie)

	r := runCLI(t, nil, "remsh", c.Name, "--cookie", cookie, "--dry-run", "--", "-kernel", "shell_history", "enabled")
	if r.code != 0 {
		t.Fatalf("dry run: exit %d, stderr %q", r.code, r.stderr)
	}
	want := regexp.MustCompile(`^erl -pa ` + regexp.QuoteMeta(filepath.Join(root, "ebin")) +
		` -start_epmd false -epmd_module epmd_docker -hidden -sname remsh-[0-9a-f]{8} -remsh app@` + c.Hostname +
		` -kernel shell_history enabled\n$`)
	if !want.MatchString(r.stdout) {
		t.Errorf("dry run: got %q, want %v", r.stdout, want)
	}
	if strings.Contains(r.stdout+r.stderr, cookie) {
		t.Errorf("dry run printed the cookie: %q %q", r.stdout, r.stderr)
	}

	// The same through ERLANG_COOKIE, through the container's
	// environment, and with iex.
	r = runCLI(t, []string{"ERLANG_COOKIE=" + cookie}, "remsh", "app@"+c.ID[:10], "--dry-run", "--iex")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "iex --sname remsh-") || !strings.Contains(r.stdout, "--remsh app@"+c.Hostname+" --erl '-pa ") {
		t.Errorf("ERLANG_COOKIE, --iex: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	rel := start(t, "rel", []string{"-e", "RELEASE_COOKIE=" + cookie}, erlNode("app", cookie)...)
	waitNodes(t, rel, 1)
	r = runCLI(t, nil, "remsh", rel.Name, "--cookie-from-container", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stderr, "RELEASE_COOKIE in "+rel.Name) {
		t.Errorf("--cookie-from-container: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}

func TestRemshFailures(t *testing.T) {
	needDocker(t)
	needErl(t)
	one := start(t, "r-one", nil, erlNode("app", "right")...)
	two := start(t, "r-two", nil, "sh", "-c", "erl -sname a -setcookie right -noshell -noinput -detached; exec erl -sname b -setcookie right -noshell -noinput")
	plain := start(t, "r-plain", nil, "sleep", "infinity")
	waitNodes(t, one, 1)
	waitNodes(t, two, 2)
	secret := secretNode(t, "r-secret", "right")
	home := t.TempDir() // no ~/.erlang.cookie
	noCookie := []string{"HOME=" + home, "ERLANG_COOKIE="}

	tests := []struct {
		name string
		env  []string
		args []string
		want string
		code int // 0: exitFailed
	}{
		{"unknown target", nil, []string{"nosuch-" + runID, "--cookie", "right"}, "no running container answers to nosuch-" + runID, 0},
		{"several nodes, no terminal", nil, []string{two.Name, "--cookie", "right"}, two.Name + " (" + two.ID[:12] + ") runs several nodes: a, b; name one, as in epmd-docker remsh a@" + two.Name, 0},
		{"wrong cookie", nil, []string{one.Name, "--cookie", "wrong"}, "app@" + one.Hostname + " in " + one.Name + " (" + one.ID[:12] + ") refused the cookie (from --cookie)", exitCookieRefused},
		{"wrong cookie from the environment", []string{"ERLANG_COOKIE=wrong"}, []string{one.Name}, "refused the cookie (from ERLANG_COOKIE)", exitCookieRefused},
		{"no such node", nil, []string{"other@" + one.Name, "--cookie", "right"}, "runs no node named other; it runs app", 0},
		{"no epmd", nil, []string{plain.Name, "--cookie", "right"}, "cannot ask the epmd in " + plain.Name, exitUnreachable},
		{"no cookie", noCookie, []string{one.Name}, "no cookie: pass --cookie", 0},
		{"no cookie in the container", nil, []string{secret.Name, "--cookie-from-container"}, "no RELEASE_COOKIE or ERLANG_COOKIE", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := tt.code
			if code == 0 {
				code = exitFailed
			}
			r := runCLI(t, tt.env, append([]string{"remsh"}, tt.args...)...)
			if r.code != code || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", r.code, r.stdout, r.stderr, code, tt.want)
			}
		})
	}
}

// terminal is a tmux session on a private server: a real terminal for
// remsh.
type terminal struct {
	t      *testing.T
	socket string
}

// newTerminal runs command (a shell command line) in a new terminal; when
// it ends, the terminal shows EXIT=status and stays open.
func newTerminal(t *testing.T, command string) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("no tmux")
	}
	tm := &terminal{t: t, socket: "epmd-docker-" + runID + "-" + randHex(2)}
	tm.tmux("new-session", "-d", "-s", "main", "-x", "200", "-y", "50", command+"; echo EXIT=$?; sleep 600")
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *terminal) tmux(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// send types keys (tmux key names, or text).
func (tm *terminal) send(keys ...string) {
	tm.t.Helper()
	tm.tmux(append([]string{"send-keys", "-t", "main"}, keys...)...)
}

// waitFor waits until the screen shows want, and returns the screen.
func (tm *terminal) waitFor(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		screen := tm.tmux("capture-pane", "-p", "-t", "main")
		if strings.Contains(screen, want) {
			return screen
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("terminal never showed %q; it shows:\n%s", want, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quit leaves the shell with ^G q, and returns the exit status line.
func (tm *terminal) quit() {
	tm.t.Helper()
	tm.send("C-g")
	tm.waitFor("User switch command")
	tm.send("q", "Enter")
	tm.waitFor("EXIT=0")
}

// processes returns the command lines of every process on the machine,
// as any user may read them.
func processes(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ps", "-eww", "-o", "args").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestRemshTerminal opens a shell on a container node through a real
// terminal, with the cookie given on the command line, and checks that
// while it runs the cookie is in no process's command line, nor in its
// private HOME, which is gone once erl has read it.
func TestRemshTerminal(t *testing.T) {
	needDocker(t)
	needErl(t)
	cookie := "sekrit" + runID
	c := secretNode(t, "tty", cookie)

	// The command goes in a script, so that only epmd-docker has the
	// cookie on its command line, as when a person types it.
	script := filepath.Join(t.TempDir(), "remsh.sh")
	if err := os.WriteFile(script, []byte(binary+" remsh "+c.Name+" --cookie "+cookie+"; echo EXIT=$?; sleep 600\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tm := newTerminal(t, "sh "+script)
	tm.waitFor("(app@" + c.Hostname + ")1>")
	tm.send("node().", "Enter")
	tm.waitFor("\napp@" + c.Hostname + "\n")

	ps := processes(t)
	if strings.Contains(ps, cookie) {
		t.Errorf("the cookie is in the process list:\n%s", grepLines(ps, cookie))
	}
	home := regexp.MustCompile(`-home (\S*epmd-docker-remsh-\S+)`).FindStringSubmatch(ps)
	if home == nil {
		t.Fatalf("no erl with a private -home in the process list:\n%s", grepLines(ps, "beam"))
	}
	// erl has read the cookie by the time the shell prompts: the private
	// HOME is gone already.
	if _, err := os.Stat(home[1]); !os.IsNotExist(err) {
		t.Errorf("private HOME %s still there while the shell runs: %v", home[1], err)
	}

	tm.quit()
	if _, err := os.Stat(home[1]); !os.IsNotExist(err) {
		t.Errorf("private HOME %s still there after the shell ended: %v", home[1], err)
	}
}

// TestRemshChoose lets a person pick one of two nodes at the prompt.
func TestRemshChoose(t *testing.T) {
	needDocker(t)
	needErl(t)
	c := start(t, "choose", nil, "sh", "-c", "erl -sname a -setcookie c -noshell -noinput -detached; exec erl -sname b -setcookie c -noshell -noinput")
	waitNodes(t, c, 2)

	tm := newTerminal(t, "ERLANG_COOKIE=c "+binary+" remsh "+c.Name)
	tm.waitFor("which one? [1-2]")
	tm.send("2", "Enter")
	tm.waitFor("(b@" + c.Hostname + ")1>")
	tm.send("node().", "Enter")
	tm.waitFor("\nb@" + c.Hostname + "\n")
	tm.quit()
}

// TestRemshHomeCookie uses ~/.erlang.cookie, which erl reads itself:
// epmd-docker then replaces itself with erl.
func TestRemshHomeCookie(t *testing.T) {
	needDocker(t)
	needErl(t)
	c := start(t, "home", nil, erlNode("app", "homecookie")...)
	waitNodes(t, c, 1)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte("homecookie\n"), 0o400); err != nil {
		t.Fatal(err)
	}

	tm := newTerminal(t, "HOME="+home+" ERLANG_COOKIE= "+binary+" remsh "+c.ID[:12])
	tm.waitFor("(app@" + c.Hostname + ")1>")
	if ps := processes(t); strings.Contains(ps, "\n"+binary+" remsh") {
		t.Errorf("epmd-docker still runs beside erl:\n%s", grepLines(ps, "epmd-docker"))
	}
	tm.send("node().", "Enter")
	tm.waitFor("\napp@" + c.Hostname + "\n")
	tm.quit()
}

// TestRemshIex opens an iex shell on a node that has Elixir on its code
// path.
func TestRemshIex(t *testing.T) {
	needDocker(t)
	needErl(t)
	if _, err := exec.LookPath("iex"); err != nil {
		t.Skip("no iex")
	}
	libs := "/usr/lib/elixir/lib"
	if out, err := exec.Command("elixir", "-e", "IO.write(:code.lib_dir(:elixir) |> Path.dirname())").Output(); err == nil {
		libs = string(out)
	}
	c := start(t, "iex", []string{"-e", "ERL_LIBS=" + libs}, erlNode("app", "c")...)
	waitNodes(t, c, 1)

	tm := newTerminal(t, binary+" remsh "+c.Name+" --iex --cookie c")
	tm.waitFor("iex(app@" + c.Hostname + ")1>")
	tm.send("Node.self()", "Enter")
	tm.waitFor(":app@" + c.Hostname)
	tm.send("C-c")
	tm.waitFor("BREAK")
	tm.send("a", "Enter")
	tm.waitFor("EXIT=")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
