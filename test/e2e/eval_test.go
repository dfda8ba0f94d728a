package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cliResult is how a run of the epmd-docker binary ended.
type cliResult struct {
	stdout, stderr string
	code           int
}

// helperBin is this checkout's epmd-docker.
func helperBin() string { return filepath.Join(root, "priv", "epmd-docker") }

// runHelper runs epmd-docker with args, stdin from in (nil: /dev/null),
// env added to the environment (ERLANG_COOKIE is the run's cookie unless
// env says otherwise).
func runHelper(t testing.TB, env []string, in io.Reader, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, helperBin(), args...)
	cmd.Env = append(append(os.Environ(), "ERLANG_COOKIE="+cookie), env...)
	cmd.Stdin = in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("epmd-docker %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// otp27 is the OTP 27 image, built with test/matrix/build-image.sh when it
// is missing (which takes a few minutes, once).
func otp27(t *testing.T) *otp {
	t.Helper()
	img := "epmd-docker-otp27:latest"
	if exec.Command("docker", "image", "inspect", img).Run() != nil {
		t.Logf("building %s with test/matrix/build-image.sh 27", img)
		out, err := exec.Command(filepath.Join(root, "test", "matrix", "build-image.sh"), "27").CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", img, err, out)
		}
	}
	return &otp{Release: 27, Image: img}
}

// TestEval evaluates expressions on container nodes of OTP 25 (the test
// image, with the host's Erlang) and OTP 27, and tells each failure by its
// exit status.
func TestEval(t *testing.T) {
	for _, o := range []*otp{hostOTP, otp27(t)} {
		name := "otp25"
		if o.Image != "" {
			name = "otp27"
		}
		t.Run(name, func(t *testing.T) {
			c := o.startNode(t, nodeSpec{})
			release := "25"
			if o.Image != "" {
				release = "27"
			}

			r := runHelper(t, nil, nil, "eval", c.Node, "{node(), erlang:system_info(otp_release)}.")
			if want := "{" + atom(c.Node) + ",\"" + release + "\"}\n"; r.code != 0 || r.stdout != want {
				t.Fatalf("eval: exit %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, want)
			}

			// From stdin, several expressions, with what they print.
			in := strings.NewReader("X = 6 * 7.\nio:format(\"on ~s~n\", [node()]).\nX.\n")
			r = runHelper(t, nil, in, "eval", c.Hostname, "-")
			if want := "on " + c.Node + "\n42\n"; r.code != 0 || r.stdout != want {
				t.Fatalf("eval from stdin: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
			}

			r = runHelper(t, nil, nil, "eval", c.Node, "--json", "lists:seq(1, 3)")
			var ans struct{ Node, Result, Error string }
			if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != 0 || ans.Node != c.Node || ans.Result != "[1,2,3]" {
				t.Fatalf("eval --json: exit %d, %q (%v), stderr %q", r.code, r.stdout, err, r.stderr)
			}

			for _, tc := range []struct {
				name string
				env  []string
				args []string
				code int
				want string
			}{
				{"raises", nil, []string{c.Node, "erlang:error(boom)."}, 6, "exception error: boom"},
				{"throws", nil, []string{c.Node, "throw(ball)."}, 6, "ball"},
				{"syntax", nil, []string{c.Node, "1 +."}, 2, "syntax error"},
				{"cookie refused", []string{"ERLANG_COOKIE=wrong"}, []string{c.Node, "ok."}, 5, "refused the cookie"},
				{"no such container", nil, []string{"app@nosuch-" + runID, "ok."}, 1, "no running container"},
			} {
				r := runHelper(t, tc.env, nil, append([]string{"eval"}, tc.args...)...)
				if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d and %q", tc.name, r.code, r.stdout, r.stderr, tc.code, tc.want)
				}
			}
			r = runHelper(t, nil, nil, "eval", c.Node, "--json", "erlang:error(boom).")
			if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != 6 || ans.Error != "raised" {
				t.Errorf("eval --json of a raise: exit %d, %q (%v)", r.code, r.stdout, err)
			}
			if got := runHelper(t, nil, nil, "eval", c.Node, "ok.").stdout; got != "ok\n" {
				t.Errorf("the node does not answer after the failures: %q", got)
			}
		})
	}

	// A container whose node is gone: unreachable, status 4.
	t.Run("unreachable", func(t *testing.T) {
		c := startNode(t, nodeSpec{})
		// The node is the container's pid 1, which only the host can stop.
		pid, _ := strconv.Atoi(docker(t, "inspect", "-f", "{{.State.Pid}}", c.ID))
		if pid <= 0 || syscall.Kill(pid, syscall.SIGSTOP) != nil {
			t.Fatalf("cannot stop the node (pid %d)", pid)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		r := runHelper(t, nil, nil, "eval", c.Node, "ok.")
		if r.code != 4 {
			t.Errorf("a stopped node: exit %d, stderr %q; want 4", r.code, r.stderr)
		}
		plain := runSleeper(t)
		r = runHelper(t, nil, nil, "eval", plain, "ok.")
		if r.code != 4 || !strings.Contains(r.stderr, "cannot ask the epmd") {
			t.Errorf("a container without epmd: exit %d, stderr %q; want 4", r.code, r.stderr)
		}
	})
}

// TestRemshWithoutTerminal pipes expressions into remsh. erl ignores
// -remsh without a terminal and runs a local shell, so they used to run on
// the local throwaway node, with status 0; they must run on the container's
// node.
func TestRemshWithoutTerminal(t *testing.T) {
	c := startNode(t, nodeSpec{})
	r := runHelper(t, nil, strings.NewReader(`io:format("~s~n", [node()]).`+"\n"), "remsh", c.Node)
	if r.code != 0 || !strings.HasPrefix(r.stdout, c.Node+"\n") {
		t.Fatalf("echo ... | remsh: exit %d, stdout %q, stderr %q; want the container node's name %s", r.code, r.stdout, r.stderr, c.Node)
	}
	if !strings.Contains(r.stderr, "stdin is not a terminal") {
		t.Errorf("no note that the input was evaluated: %q", r.stderr)
	}
	r = runHelper(t, nil, strings.NewReader("erlang:error(boom).\n"), "remsh", c.Node)
	if r.code != 6 {
		t.Errorf("a raise piped into remsh: exit %d, want 6", r.code)
	}

	// stdin a terminal, stdout not (remsh | tee log): refused.
	cmdline := "env ERLANG_COOKIE=" + cookie + " " + helperBin() + " remsh " + c.Node + " | cat; echo STATUS=${PIPESTATUS[0]}; sleep 600"
	session := startTerminal(t, "e2e-notty-", "bash", "-c", cmdline)
	waitScreen(t, session, "STATUS=1", 30*time.Second)
	waitScreen(t, session, "remsh needs a terminal on stdout too", time.Second)

	// make demo | tee log: the demo refuses too, rather than a local shell.
	demo := exec.Command(filepath.Join(root, "test", "demo.sh"))
	demo.Stdin = strings.NewReader("node().\n")
	out, err := demo.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs a terminal") || strings.Contains(string(out), "Eshell") {
		t.Errorf("demo without a terminal: %v\n%s", err, out)
	}
}

// longEval starts `epmd-docker eval NODE EXPR` in a process group of its
// own, EXPR registering its process on the node as name and sleeping, and
// returns once the expression runs there.
func longEval(t *testing.T, env []string, node, name string, args ...string) *exec.Cmd {
	t.Helper()
	expr := "register(" + name + ", self()), timer:sleep(120000)."
	cmd := exec.Command(helperBin(), append(append([]string{"eval", node, expr}, args...), "--timeout", "10m")...)
	cmd.Env = append(append(os.Environ(), "ERLANG_COOKIE="+cookie), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for runHelper(t, nil, nil, "eval", node, "whereis("+name+") =/= undefined.").stdout != "true\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the long eval never ran on %s; its output: %s", node, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return cmd
}

// localErl is the pid of the erl that epmd-docker (pid parent) runs.
func localErl(t *testing.T, parent int) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && parentPid(pid) == parent {
			return pid
		}
	}
	t.Fatalf("no child of epmd-docker (pid %d)", parent)
	return 0
}

// nodeAlive fails the test unless the container still runs and its node
// answers.
func nodeAlive(t *testing.T, c Container, after string) {
	t.Helper()
	if st := docker(t, "inspect", "-f", "{{.State.Running}}", c.ID); st != "true" {
		logs, _ := exec.Command("docker", "logs", c.ID).CombinedOutput()
		t.Fatalf("after %s the container stopped; its log:\n%s", after, logs)
	}
	if r := runHelper(t, nil, nil, "eval", c.Node, "ok."); r.stdout != "ok\n" {
		t.Fatalf("after %s the node does not answer: exit %d, %q, %q", after, r.code, r.stdout, r.stderr)
	}
}

// TestOTP27NodeSurvivesTheEnd ends remote shells and evals into an OTP 27
// node every way they end: end of input, Ctrl-C, kill -9 of the local
// side. OTP 26 to 27.3.4 stopped the remote node when a remote shell's
// input ended (erlang/otp#9852); the node must survive each.
func TestOTP27NodeSurvivesTheEnd(t *testing.T) {
	o := otp27(t)
	c := o.startNode(t, nodeSpec{})

	t.Run("remsh, end of input", func(t *testing.T) {
		r := runHelper(t, nil, strings.NewReader(""), "remsh", c.Node)
		if r.code == 0 {
			t.Errorf("remsh with empty input: exit 0, want a syntax error (no expression)")
		}
		r = runHelper(t, nil, strings.NewReader("node().\n"), "remsh", c.Node)
		if r.stdout != c.Node+"\n" {
			t.Errorf("remsh with input, then its end: %q %q", r.stdout, r.stderr)
		}
		nodeAlive(t, c, "the end of remsh's input")
	})

	t.Run("remsh, Ctrl-C and kill -9", func(t *testing.T) {
		for _, how := range []string{"ctrl-c", "kill-9"} {
			cmdline := "env ERLANG_COOKIE=" + cookie + " " + helperBin() + " remsh " + c.Node + "; sleep 600"
			session := startTerminal(t, "e2e-o27-", cmdline)
			waitScreen(t, session, "("+c.Node+")1>", 30*time.Second)
			typeLine(t, session, "erlang:system_info(otp_release).")
			waitScreen(t, session, `"27"`, 10*time.Second)
			switch how {
			case "ctrl-c":
				_ = exec.Command("tmux", "send-keys", "-t", session, "C-c").Run()
				waitScreen(t, session, "BREAK", 10*time.Second)
				typeLine(t, session, "a")
			case "kill-9":
				out, _ := exec.Command("pgrep", "-f", "^"+helperBin()+" remsh "+c.Node).Output()
				pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
				if err != nil {
					t.Fatalf("epmd-docker remsh not found: %q", out)
				}
				erl := localErl(t, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_ = syscall.Kill(erl, syscall.SIGKILL)
			}
			nodeAlive(t, c, "remsh's "+how)
		}
	})

	t.Run("eval, Ctrl-C", func(t *testing.T) {
		cmd := longEval(t, nil, c.Node, "e2e_ctrl_c")
		// As a terminal sends it: to the whole foreground process group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("eval after Ctrl-C: %v, want a non-zero status", err)
		}
		nodeAlive(t, c, "eval's Ctrl-C")
	})

	t.Run("eval, kill -9", func(t *testing.T) {
		cmd := longEval(t, nil, c.Node, "e2e_kill")
		erl := localErl(t, cmd.Process.Pid)
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = syscall.Kill(erl, syscall.SIGKILL)
		_ = cmd.Wait()
		nodeAlive(t, c, "kill -9 of eval")
	})
}
