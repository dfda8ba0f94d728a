package e2e

// Where Erlang and Elixir teams live: epmd_docker as a rebar3 dependency and
// in a relx release, with Elixir's iex, as a Mix dependency and in a Mix
// release, and a compose file that runs releases in containers. Each test
// builds a throwaway project from test/fixtures the way a user would, with
// no network: the git dependency is a local snapshot of this working tree,
// Go modules come from the cache `make all` filled, Mix uses Debian's
// rebar3 and no Hex.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A rebar3 project with a git dependency on this repository builds
// priv/epmd-docker through the dependency's pre_hook, and `rebar3 shell`
// from it reaches a container node as a hidden node. Its relx release boots
// in embedded mode with -epmd_module epmd_docker from vm.args, reaches the
// container node, and `remote_console` carries the flag.
func TestRebar3DependencyAndRelease(t *testing.T) {
	ecoRequire(t, "rebar3", "git", "make", "go", "tmux")
	rebar3Scenario(t, ecoSnapshot(t), ecoVars(t), filepath.Join("priv", "epmd-docker"))
}

// The same with no Go on PATH, from a git ref whose tree carries the
// prebuilt helpers of `make dist`: the hook builds nothing, and the shell,
// the release and its remote console use priv/OS-ARCH/epmd-docker.
func TestRebar3DependencyWithoutGo(t *testing.T) {
	ecoRequire(t, "rebar3", "git", "tmux")
	vars := noGo(t, ecoVars(t))
	rebar3Scenario(t, ecoSnapshotWithHelpers(t), vars, prebuiltHelper)
}

// rebar3Scenario builds the rebar3_admin fixture against the epmd_docker
// git repository at gitURL, with vars, and checks that the dependency's
// helper is the one at helper (relative to the dependency) and that it
// reaches a container node from `rebar3 shell`, a relx release and its
// remote console.
func rebar3Scenario(t *testing.T, gitURL string, vars []string, helper string) {
	c := startNode(t, nodeSpec{})
	port := ecoFreePort(t)
	name := "ops" + randHex(3)
	dir := ecoFixture(t, "rebar3_admin", map[string]string{
		"EPMD_DOCKER_GIT": gitURL,
		"NODE":            name,
		"COOKIE":          cookie,
		"DIST_PORT":       strconv.Itoa(port),
	})
	env := ecoEnviron(vars...)
	start := time.Now()
	ecoRun(t, dir, env, 5*time.Minute, "rebar3", "compile")
	t.Logf("rebar3 compile, with the dependency's hook finding or building the helper: %v", time.Since(start).Round(time.Millisecond))
	dep := filepath.Join(dir, "_build", "default", "lib", "epmd_docker")
	ecoRequireHelper(t, dep, helper)

	t.Run("rebar3_shell", func(t *testing.T) {
		shell := "admin" + randHex(3)
		session := ecoTmux(t, dir, ecoPlus(vars, "ERL_FLAGS=-start_epmd false -epmd_module epmd_docker -hidden"),
			"rebar3", "shell", "--sname", shell, "--setcookie", cookie)
		waitScreen(t, session, "("+shell+"@", 60*time.Second)
		waitScreen(t, session, "Booted ops", 30*time.Second)
		typeLine(t, session, fmt.Sprintf("{net_kernel:epmd_module(), rpc:call('%s', erlang, node, []), rpc:call('%s', erlang, nodes, []), %s}.", c.Node, c.Node, helperUsed(helper)))
		// nodes() on the container node is [] only if the shell is hidden.
		waitScreen(t, session, "{epmd_docker,"+atom(c.Node)+",[],true}", 20*time.Second)
	})

	t.Run("relx_release", func(t *testing.T) {
		ecoRun(t, dir, env, 3*time.Minute, "rebar3", "release")
		rel := filepath.Join(dir, "_build", "default", "rel", "ops")
		bin := filepath.Join(rel, "bin", "ops")
		// Started without ERL_DIST_PORT: that would make erl_epmd answer
		// this port for every node, containers included (see vm.args).
		stopped := ecoStart(t, rel, env, bin, "foreground")
		ctlVars := ecoPlus(vars, "ERL_DIST_PORT="+strconv.Itoa(port))
		ctl := ecoEnviron(ctlVars...)
		ecoWaitFor(t, 60*time.Second, "the release answers `ping`", func() (bool, string) {
			out, err := ecoTry(rel, ctl, 20*time.Second, bin, "ping")
			return err == nil && strings.Contains(out, "pong"), out
		})
		eval := func(expr string) string {
			t.Helper()
			return ecoCompact(ecoRun(t, rel, ctl, 30*time.Second, bin, "eval", expr))
		}
		node := strings.Trim(eval("node()."), "'")
		if !strings.HasPrefix(node, name+"@") {
			t.Fatalf("release node() = %s, want %s@HOST", node, name)
		}
		// Embedded mode loads nothing on demand: epmd_docker ran at boot
		// because the boot script loaded it from the release's lib/.
		got := eval("{code:get_mode(), net_kernel:epmd_module(), code:which(epmd_docker)}.")
		want := fmt.Sprintf(`{embedded,epmd_docker,"%s/lib/epmd_docker-`, rel)
		if !strings.HasPrefix(got, want) {
			t.Errorf("release: {mode, epmd module, code:which(epmd_docker)} = %s, want prefix %s", got, want)
		}
		reach := fmt.Sprintf("ops:reach('%s').", c.Node)
		want = "{true," + atom(c.Node) + "}"
		ecoWaitFor(t, 30*time.Second, "the release to reach "+c.Node, func() (bool, string) {
			got := eval(reach)
			if got != want {
				t.Logf("release: ops:reach(%s) = %s, want %s; trying again", c.Node, got, want)
			}
			return got == want, got
		})

		session := ecoTmux(t, rel, ctlVars, bin, "remote_console")
		waitScreen(t, session, "("+node+")1>", 30*time.Second)
		// The shell's group leader lives on the remote_console node itself.
		typeLine(t, session, fmt.Sprintf("{rpc:call(node(group_leader()), net_kernel, epmd_module, []), ops:reach('%s')}.", c.Node))
		waitScreen(t, session, "{epmd_docker,{true,"+atom(c.Node)+"}}", 20*time.Second)

		ecoRun(t, rel, ctl, time.Minute, bin, "stop")
		ecoWaitExit(t, stopped, "the release, after `stop`,", 30*time.Second)
	})
}

// `iex --remsh` into an Elixir node in a container, with Debian's elixir.
func TestIExRemoteShell(t *testing.T) {
	ecoRequire(t, "iex", "tmux")
	c := ecoStartNode(t, []string{"-e", "LANG=C.UTF-8"}, "app",
		"elixir", "--sname", "app", "--cookie", cookie, "--no-halt")
	session := ecoTmux(t, "", []string{"LANG=C.UTF-8", ecoSlowHost}, "iex",
		"--erl", "-pa "+ebin+" -start_epmd false -epmd_module epmd_docker",
		"--sname", "admin"+randHex(3), "--hidden", "--cookie", cookie, "--remsh", c.Node)
	waitScreen(t, session, "iex("+c.Node+")1>", 30*time.Second)
	typeLine(t, session, "{node(), :rpc.call(node(Process.group_leader()), :net_kernel, :epmd_module, []), Node.list()}")
	// Node.list() on the container node is [] only if the iex node is hidden.
	waitScreen(t, session, "{"+exAtom(c.Node)+", :epmd_docker, []}", 20*time.Second)
}

// A Mix project with a git dependency on this repository (manager: :rebar3)
// compiles offline with Debian's rebar3, which builds priv/epmd-docker;
// `iex -S mix` in it reaches a container node; its `mix release` boots in
// embedded mode and reaches a container node, and the release's `rpc` and
// `remote` commands reach the release.
func TestMixDependencyAndRelease(t *testing.T) {
	ecoRequire(t, "mix", "rebar3", "git", "make", "go", "tmux")
	mixScenario(t, ecoSnapshot(t), ecoVars(t), filepath.Join("priv", "epmd-docker"))
}

// The same with no Go on PATH, from a git ref whose tree carries the
// prebuilt helpers: rebar3 runs erlang/rebar.config's hook, which finds
// priv/OS-ARCH/epmd-docker and builds nothing.
func TestMixDependencyWithoutGo(t *testing.T) {
	ecoRequire(t, "mix", "rebar3", "git", "tmux")
	vars := noGo(t, ecoVars(t))
	mixScenario(t, ecoSnapshotWithHelpers(t), vars, prebuiltHelper)
}

// mixScenario is rebar3Scenario for the mix_admin fixture: `iex -S mix`,
// a Mix release, its `rpc` and `remote` commands.
func mixScenario(t *testing.T, gitURL string, vars []string, helper string) {
	c := startNode(t, nodeSpec{})
	port := ecoFreePort(t)
	dir := ecoFixture(t, "mix_admin", map[string]string{
		"EPMD_DOCKER_GIT": gitURL,
		"DIST_PORT":       strconv.Itoa(port),
	})
	env := ecoEnviron(vars...)
	start := time.Now()
	ecoRun(t, dir, env, 2*time.Minute, "mix", "deps.get")
	ecoRun(t, dir, env, 5*time.Minute, "mix", "compile")
	t.Logf("mix deps.get and compile, with rebar3 building the dependency: %v", time.Since(start).Round(time.Millisecond))
	dep := filepath.Join(dir, "_build", "prod", "lib", "epmd_docker")
	ecoRequireHelper(t, dep, helper)

	// iex -S mix: the flags must be on the VM's command line, and Mix adds
	// the dependency's ebin only after the VM has started distribution.
	session := ecoTmux(t, dir, vars, "iex",
		"--erl", "-pa _build/prod/lib/epmd_docker/ebin -start_epmd false -epmd_module epmd_docker",
		"--sname", "admin"+randHex(3), "--hidden", "--cookie", cookie, "-S", "mix")
	waitScreen(t, session, "iex(admin", 60*time.Second)
	typeLine(t, session, fmt.Sprintf(`{Ops.reach(:"%s"), %s}`, c.Node, exHelperUsed(helper)))
	waitScreen(t, session, "{{true, "+exAtom(c.Node)+"}, true}", 20*time.Second)

	ecoRun(t, dir, env, 3*time.Minute, "mix", "release")
	rel := filepath.Join(dir, "_build", "prod", "rel", "ops")
	bin := filepath.Join(rel, "bin", "ops")
	name := "ops" + randHex(3)
	rvars := ecoPlus(vars, "RELEASE_COOKIE="+cookie, "RELEASE_NODE="+name)
	renv := ecoEnviron(rvars...)
	stopped := ecoStart(t, rel, renv, bin, "start")
	ecoWaitFor(t, 60*time.Second, "the release answers `rpc`", func() (bool, string) {
		out, err := ecoTry(rel, renv, 20*time.Second, bin, "rpc", "IO.puts(:up)")
		return err == nil && strings.Contains(out, "up"), out
	})
	expr := fmt.Sprintf(`IO.inspect({:code.get_mode(), :net_kernel.epmd_module(), Ops.reach(:"%s")})`, c.Node)
	want := "{:embedded, :epmd_docker, {true, " + exAtom(c.Node) + "}}"
	ecoWaitFor(t, 30*time.Second, "the release to reach "+c.Node, func() (bool, string) {
		got := ecoRun(t, rel, renv, 30*time.Second, bin, "rpc", expr)
		if !strings.Contains(got, want) {
			t.Logf("release: rpc printed %q, want %q; trying again", got, want)
			return false, got
		}
		return true, got
	})

	session = ecoTmux(t, rel, rvars, bin, "remote")
	waitScreen(t, session, "iex("+name+"@", 30*time.Second)
	typeLine(t, session, fmt.Sprintf(`Ops.reach(:"%s")`, c.Node))
	waitScreen(t, session, "{true, "+exAtom(c.Node)+"}", 20*time.Second)

	ecoRun(t, rel, renv, time.Minute, bin, "stop")
	ecoWaitExit(t, stopped, "the release, after `stop`,", 30*time.Second)
}

// examples/compose/docker-compose.yml, run by docker-compose: a Mix release
// named by RELEASE_NODE and the container's hostname, and two replicas of a
// relx release on Docker's default hostnames, each with the cookie from the
// environment, are reached from a host admin node and listed by
// epmd_docker:nodes(). The test's override file puts releases built here
// into the local test image, labels everything, and gives web a hostname of
// its own (web-RUNID), so that concurrent runs never make "web" ambiguous.
func TestComposeExample(t *testing.T) {
	ecoRequire(t, "docker-compose", "rebar3", "mix")
	env := ecoEnviron(ecoVars(t)...)
	start := time.Now()
	workerDir := ecoFixture(t, "worker", nil)
	ecoRun(t, workerDir, env, 3*time.Minute, "rebar3", "release")
	webDir := ecoFixture(t, "web", nil)
	ecoRun(t, webDir, env, 3*time.Minute, "mix", "release")
	t.Logf("built the relx and Mix releases: %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()

	project := "e2e" + strings.ReplaceAll(runID, "-", "") + randHex(2)
	webHost := "web-" + runID
	cenv := ecoEnviron(
		"COOKIE="+cookie,
		"E2E_IMAGE="+image,
		"E2E_RUN="+runID,
		"E2E_WEB_HOSTNAME="+webHost,
		"E2E_WEB_RELEASE="+filepath.Join(webDir, "_build", "prod", "rel", "web"),
		"E2E_WORKER_RELEASE="+filepath.Join(workerDir, "_build", "default", "rel", "worker"),
	)
	compose := []string{"-p", project,
		"-f", filepath.Join(root, "examples", "compose", "docker-compose.yml"),
		"-f", filepath.Join(root, "test", "fixtures", "compose", "override.yml")}
	t.Cleanup(func() {
		_, _ = ecoTry(root, cenv, 2*time.Minute, "docker-compose", ecoPlus(compose, "down", "-t", "1", "--remove-orphans")...)
	})
	ecoRun(t, root, cenv, 3*time.Minute, "docker-compose", ecoPlus(compose, "up", "-d", "--scale", "worker=2")...)
	ids := func(service string) []string {
		return strings.Fields(ecoRun(t, root, cenv, time.Minute, "docker-compose", ecoPlus(compose, "ps", "-q", service)...))
	}
	web, workers := ids("web"), ids("worker")
	if len(web) != 1 || len(workers) != 2 {
		t.Fatalf("docker-compose ps: web %v, worker %v; want one and two containers", web, workers)
	}
	// Each node and the module whose hello/0 answers {hello, node()}.
	type target struct{ node, module string }
	targets := []target{{"app@" + webHost, "'Elixir.Web'"}}
	waitRegistered(t, web[0], "app")
	for _, id := range workers {
		waitRegistered(t, id, "app")
		targets = append(targets, target{"app@" + docker(t, "inspect", "-f", "{{.Config.Hostname}}", id), "worker"})
	}
	t.Logf("docker-compose up, nodes registered: %v", time.Since(start).Round(time.Millisecond))

	a := startAdmin(t, []string{ecoSlowHost})
	listed := a.Eval("epmd_docker:nodes()", 20*time.Second)
	for _, tg := range targets {
		if !strings.Contains(listed, atom(tg.node)) {
			t.Errorf("epmd_docker:nodes() = %s, want it to list %s", listed, tg.node)
		}
		if got := a.Connect(tg.node); got != "true" {
			t.Fatalf("connect_node(%s) = %s\n%s", tg.node, got, a.Output())
		}
		want := "{hello," + atom(tg.node) + "}"
		if got := a.Eval(fmt.Sprintf("rpc:call('%s', %s, hello, [])", tg.node, tg.module), 15*time.Second); got != want {
			t.Errorf("rpc to %s: %s:hello() = %s, want %s", tg.node, tg.module, got, want)
		}
	}
}

// Helpers

// ecoRequire fails the test when a command it runs is missing.
func ecoRequire(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s is required (make test installs it): %v", name, err)
		}
	}
}

// ecoRequireHelper fails the test unless the dependency in dep has an
// executable helper at rel and, for a prebuilt one, no local build beside
// it (the hook must not have built one).
func ecoRequireHelper(t *testing.T, dep, rel string) {
	t.Helper()
	path := filepath.Join(dep, rel)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the dependency's hook did not provide the helper: %v", err)
	}
	if fi.Mode()&0o111 == 0 {
		t.Fatalf("%s is not executable: %v", path, fi.Mode())
	}
	local := filepath.Join(dep, "priv", "epmd-docker")
	if path != local {
		if _, err := os.Stat(local); err == nil {
			t.Fatalf("the hook built %s although the prebuilt %s is there", local, rel)
		}
	}
}

// helperUsed and exHelperUsed are an Erlang and an Elixir expression that
// is true when the helper the port owner runs is the dependency's rel (the
// shells print a short answer; a path would be wrapped). The ping runs
// the helper if nothing has yet: the owner net_sup starts runs it at the
// first request.
func helperUsed(rel string) string {
	return fmt.Sprintf("begin _ = epmd_docker_helper:request(ping), lists:suffix(%s, maps:get(path, epmd_docker_helper:status(epmd_docker_helper))) end",
		strconv.Quote("/epmd_docker/"+rel))
}

func exHelperUsed(rel string) string {
	return fmt.Sprintf("(:epmd_docker_helper.request(:ping); String.ends_with?(List.to_string(:epmd_docker_helper.status(:epmd_docker_helper).path), %s))",
		strconv.Quote("/epmd_docker/"+rel))
}

// ecoVars are the settings the throwaway projects build and run with:
// nothing may come from a network, and Mix and rebar3 keep their state in
// directories of this test's own.
func ecoVars(t *testing.T) []string {
	t.Helper()
	rebar3, err := exec.LookPath("rebar3")
	if err != nil {
		t.Fatalf("rebar3 is required: %v", err)
	}
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"), // for tmux, whose server may have another
		"GOPROXY=off",               // the module cache `make all` filled has it all
		"HEX_OFFLINE=1",
		"MIX_HOME=" + filepath.Join(home, "mix"),
		"MIX_REBAR3=" + rebar3, // Debian's, not one fetched by `mix local.rebar`
		"MIX_ENV=prod",
		"REBAR_CACHE_DIR=" + filepath.Join(home, "rebar3"),
		"LANG=C.UTF-8",
		"ERL_FLAGS=",
		ecoSlowHost,
	}
}

// ecoSlowHost gives the helper more time than its 2 s default: other tests
// share the machine's cores, and these tests are about packaging, not
// latency (test/bench measures that). It stays below the 7 s net_setuptime.
const ecoSlowHost = "EPMD_DOCKER_TIMEOUT=5000"

// ecoEnviron is this process's environment with vars added (later wins).
func ecoEnviron(vars ...string) []string {
	return ecoPlus(os.Environ(), vars...)
}

// ecoPlus is a new slice: list followed by more.
func ecoPlus(list []string, more ...string) []string {
	return append(append([]string(nil), list...), more...)
}

var (
	ecoSnapshotOnce sync.Once
	ecoSnapshotURL  string
	ecoSnapshotErr  error

	ecoHelpersOnce sync.Once
	ecoHelpersURL  string
	ecoHelpersErr  error
)

// ecoSnapshot returns the file:// URL of a git repository whose main
// branch holds the working tree as `git add -A` would commit it: tracked
// and untracked files, without what .gitignore excludes (so no
// priv/epmd-docker: the dependency must build its own). In CI the tree is a
// clean clone, so this is main itself. It is made once per run, in a
// directory removed when the run ends.
func ecoSnapshot(t *testing.T) string {
	t.Helper()
	ecoSnapshotOnce.Do(func() { ecoSnapshotURL, ecoSnapshotErr = ecoMakeSnapshot("epmd_docker.git", nil) })
	if ecoSnapshotErr != nil {
		t.Fatalf("snapshot of the working tree: %v", ecoSnapshotErr)
	}
	return ecoSnapshotURL
}

// ecoSnapshotWithHelpers is ecoSnapshot with the prebuilt helpers of `make
// dist` and their SHA256SUMS committed too (force-added: priv/ is ignored),
// as a release ref that carries them would have them.
func ecoSnapshotWithHelpers(t *testing.T) string {
	t.Helper()
	files := append(distFiles(t), "SHA256SUMS")
	ecoHelpersOnce.Do(func() {
		var priv []string
		for _, f := range files {
			priv = append(priv, filepath.Join("priv", f))
		}
		ecoHelpersURL, ecoHelpersErr = ecoMakeSnapshot("epmd_docker-prebuilt.git", priv)
	})
	if ecoHelpersErr != nil {
		t.Fatalf("snapshot of the working tree with the prebuilt helpers: %v", ecoHelpersErr)
	}
	return ecoHelpersURL
}

// ecoMakeSnapshot makes the repository NAME from the working tree and the
// ignored files extra (paths relative to the root).
func ecoMakeSnapshot(name string, extra []string) (string, error) {
	// driverDir is removed when the package's tests end (harness TestMain).
	dir := filepath.Join(driverDir, name)
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files in %s: %w", root, err)
	}
	for _, rel := range strings.Split(string(list), "\x00") {
		if rel == "" {
			continue
		}
		if err := ecoCopyEntry(filepath.Join(root, rel), filepath.Join(dir, rel)); err != nil {
			return "", err
		}
	}
	for _, rel := range extra {
		if err := ecoCopyEntry(filepath.Join(root, rel), filepath.Join(dir, rel)); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		append([]string{"add", "-f", "--"}, extra...),
		{"-c", "user.name=e2e", "-c", "user.email=e2e@localhost", "-c", "commit.gpgsign=false",
			"commit", "-q", "--no-verify", "-m", "snapshot of the working tree"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return "file://" + dir, nil
}

// ecoCopyEntry copies one file or symlink, keeping its mode. A tracked file
// deleted from the working tree is skipped, as `git add -A` would.
func ecoCopyEntry(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(link, dst)
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, fi.Mode().Perm())
	}
	return nil // a submodule or other special entry: not part of the app
}

var ecoPlaceholder = regexp.MustCompile(`@@[A-Z_]+@@`)

// ecoFixture copies test/fixtures/NAME to a temporary directory, replacing
// @@KEY@@ with vars[KEY] in every file, and returns the copy's path.
func ecoFixture(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	src := filepath.Join(root, "test", "fixtures", name)
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for k, v := range vars {
			data = bytes.ReplaceAll(data, []byte("@@"+k+"@@"), []byte(v))
		}
		if m := ecoPlaceholder.Find(data); m != nil {
			return fmt.Errorf("%s: no value for %s", rel, m)
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return dst
}

// ecoCommand makes a command in its own process group, so that a timeout or
// the end of the test stops everything it started and nothing else.
func ecoCommand(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// ecoTry runs a command and returns its combined output.
func ecoTry(dir string, env []string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := ecoCommand(ctx, dir, env, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %v)", err, timeout)
	}
	return string(out), err
}

// ecoRun runs a command and fails the test, showing its output, if it fails.
func ecoRun(t *testing.T, dir string, env []string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := ecoTry(dir, env, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return out
}

// ecoStart starts a long-running command (a release in the
// foreground) and stops its process group when the test ends. The channel
// is closed when the command exits.
func ecoStart(t *testing.T, dir string, env []string, name string, args ...string) <-chan struct{} {
	t.Helper()
	var out lockedBuffer
	cmd := ecoCommand(context.Background(), dir, env, name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", name, strings.Join(args, " "), out.String())
		}
	})
	return done
}

// ecoWaitExit waits for a command started by ecoStart to exit.
func ecoWaitExit(t *testing.T, done <-chan struct{}, what string, timeout time.Duration) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s still runs %v later", what, timeout)
	}
}

// ecoWaitFor polls check until it reports true, or fails the test with the
// last detail it gave.
func ecoWaitFor(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last attempt:\n%s", timeout, what, detail)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// ecoTmux runs a command in a new tmux session, in dir and with vars
// added to the environment (tmux gives a session its server's environment,
// not ours), and kills the session when the test ends.
func ecoTmux(t *testing.T, dir string, vars []string, name string, args ...string) string {
	t.Helper()
	session := "e2e-eco-" + randHex(3)
	cmdline := shellJoin(append(append([]string{"env"}, vars...), append([]string{name}, args...)...))
	tmuxArgs := []string{"new-session", "-d", "-s", session, "-x", "200", "-y", "50"}
	if dir != "" {
		tmuxArgs = append(tmuxArgs, "-c", dir)
	}
	if out, err := exec.Command("tmux", append(tmuxArgs, cmdline)...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() })
	return session
}

// ecoStartNode is startNode for a container whose command is given in
// full, such as an Elixir node, named Name@HOSTNAME.
func ecoStartNode(t *testing.T, dockerArgs []string, name string, command ...string) Container {
	t.Helper()
	c := runContainer(t, image, hostUsr(dockerArgs...), command...)
	c.Node = name + "@" + c.Hostname
	waitRegistered(t, c.ID, name)
	return c
}

func ecoFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ecoCompact drops the white space erl_call puts into printed terms.
func ecoCompact(s string) string {
	return strings.Join(strings.Fields(s), "")
}

var ecoBareExAtom = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_@]*$`)

// exAtom is how Elixir's inspect prints an atom.
func exAtom(s string) string {
	if ecoBareExAtom.MatchString(s) {
		return ":" + s
	}
	return `:"` + s + `"`
}
