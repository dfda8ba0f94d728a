package e2e

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The OTP matrix: the core scenarios, IPv6 and TLS, run by an admin node of
// each OTP release that Debian serves (bullseye 23, bookworm 25, trixie 27,
// sid 29) against container nodes of the same release and one of the host's.
// The host's C library is too old for newer OTP, so the admin node runs in a
// local image (test/matrix/build-image.sh) with host networking and the
// Docker socket, as a person on the host would run it.
//
//	EPMD_DOCKER_MATRIX="23 27 29" go test -run '^TestMatrix' ./test/e2e/
//
// Without EPMD_DOCKER_MATRIX the matrix is skipped: `make test-matrix` sets it.

// otp is where the Erlang of a scenario runs: the host's own (Image ""),
// through the harness (erl on the host, container nodes in the test image
// with the host's /usr), or an image epmd-docker-otpN:latest for the admin
// node, remote shells and container nodes alike.
type otp struct {
	Release int    // major release, e.g. 23
	Image   string // matrix image; "" for the host's Erlang
	dir     string // mounted at /opt/epmd_docker: ebin/ and priv/ of this project, driver/
}

// hostOTP runs scenarios with the host's Erlang, as the core tests do.
var hostOTP = &otp{}

const optDir = "/opt/epmd_docker"

var (
	hostReleaseOnce sync.Once
	hostRelease     int
)

func (o *otp) release() int {
	if o.Image != "" {
		return o.Release
	}
	hostReleaseOnce.Do(func() {
		out, _ := exec.Command("erl", "-noshell", "-eval", "io:put_chars(erlang:system_info(otp_release)), halt().").Output()
		hostRelease, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	})
	return hostRelease
}

// selectsThroughEpmdModule says whether inet_tcp_dist:select/1 (and with it
// inet6_tcp_dist's and inet_tls_dist's) asks the epmd module: OTP 24.2 on.
// Debian serves no 24, so 25 is the first release here that does.
func (o *otp) selectsThroughEpmdModule() bool {
	return o.release() >= 25
}

// shimFlags are the flags an admin node of this release needs to pick the
// plain TCP carrier: none from 24.2 on, `-proto_dist epmd_docker` before.
func (o *otp) shimFlags() []string {
	if o.selectsThroughEpmdModule() {
		return nil
	}
	return []string{"-proto_dist", "epmd_docker"}
}

// startNode starts a container node of this release.
func (o *otp) startNode(t testing.TB, spec nodeSpec) Container {
	t.Helper()
	if o.Image == "" {
		return startNode(t, spec)
	}
	return startNodeFrom(t, o.Image, nil, spec)
}

// startAdmin starts a hidden admin node of this release, driven through
// e2e_driver like the harness's. env entries (K=V) reach the node's
// environment; dockerArgs (mounts) apply only to a containerised admin.
func (o *otp) startAdmin(t testing.TB, env, dockerArgs []string, extra ...string) *Admin {
	t.Helper()
	if o.Image == "" {
		return startAdmin(t, env, extra...)
	}
	name := "admin" + randHex(3)
	args := o.dockerRun(t, "-i", env, dockerArgs)
	args = append(args, o.erlArgs(append([]string{"-pa", optDir + "/driver", "-sname", name, "-hidden", "-noshell", "-s", "e2e_driver", "main"}, extra...)...)...)
	return driveAdmin(t, exec.Command("docker", args...), name, 60*time.Second, " in "+o.Image)
}

// shellCommand is the command line, for a terminal, of a remote shell into
// node from this release.
func (o *otp) shellCommand(t testing.TB, node string, flags ...string) string {
	t.Helper()
	erlArgs := append(append([]string{}, flags...), "-sname", "shell"+randHex(3), "-remsh", node)
	if o.Image == "" {
		return "erl " + shellJoin(adminArgs(erlArgs...))
	}
	args := o.dockerRun(t, "-it", nil, nil)
	return "docker " + shellJoin(append(args, o.erlArgs(erlArgs...)...))
}

// dockerRun is `docker run` for an Erlang of this release on the host's
// network, with the Docker API and this project's ebin/ and priv/ mounted,
// removed when it ends and by the test's cleanup.
func (o *otp) dockerRun(t testing.TB, mode string, env, dockerArgs []string) []string {
	t.Helper()
	cname := "epmd-docker-" + runID + "-" + randHex(4)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", cname).Run() })
	args := []string{"run", "--rm", mode, "--name", cname, "--label", label, "--network", "host",
		"-v", o.dir + ":" + optDir + ":ro"}
	args = append(args, dockerAPIArgs()...)
	for _, e := range env {
		args = append(args, "-e", e)
	}
	args = append(args, dockerArgs...)
	return append(args, o.Image, "erl")
}

// erlArgs are adminArgs with this project as the container sees it.
func (o *otp) erlArgs(extra ...string) []string {
	args := []string{"-pa", optDir + "/ebin", "-start_epmd", "false", "-epmd_module", "epmd_docker", "-setcookie", cookie}
	return append(args, extra...)
}

// dockerAPIArgs give a container the Docker API this test uses: the socket
// of DOCKER_HOST (or the default one) at the same path, or, for a TCP
// DOCKER_HOST, the variable itself, which host networking makes reachable.
func dockerAPIArgs() []string {
	host := os.Getenv("DOCKER_HOST")
	switch {
	case host == "":
		return []string{"-v", "/var/run/docker.sock:/var/run/docker.sock"}
	case strings.HasPrefix(host, "unix://"):
		path := strings.TrimPrefix(host, "unix://")
		return []string{"-v", path + ":" + path, "-e", "DOCKER_HOST=" + host}
	default:
		return []string{"-e", "DOCKER_HOST=" + host}
	}
}

// matrixVersions is EPMD_DOCKER_MATRIX: release numbers, space or comma
// separated.
func matrixVersions(t *testing.T) []int {
	spec := os.Getenv("EPMD_DOCKER_MATRIX")
	if strings.TrimSpace(spec) == "" {
		t.Skip("EPMD_DOCKER_MATRIX is not set (make test-matrix sets it, e.g. \"23 27 29\")")
	}
	var vs []int
	for _, f := range strings.FieldsFunc(spec, func(r rune) bool { return r == ' ' || r == ',' }) {
		v, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("EPMD_DOCKER_MATRIX=%q: %q is not an OTP release number", spec, f)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMatrix(t *testing.T) {
	for _, v := range matrixVersions(t) {
		t.Run(fmt.Sprintf("otp%d", v), func(t *testing.T) {
			o := prepareOTP(t, v)
			t.Run("remote_shell", func(t *testing.T) {
				scenarioRemoteShell(t, o)
			})
			t.Run("hidden_admin", func(t *testing.T) {
				scenarioHiddenAdmin(t, o)
			})
			t.Run("restart_invalidation", func(t *testing.T) {
				// With the shim, so that its select/1 sees the new
				// address too.
				scenarioRestart(t, o, "-proto_dist", "epmd_docker")
			})
			t.Run("unknown_host", func(t *testing.T) {
				scenarioUnknownHost(t, o)
			})
			if !o.selectsThroughEpmdModule() {
				t.Run("epmd_module_alone_is_not_enough", func(t *testing.T) {
					scenarioOldSelect(t, o)
				})
			}
			t.Run("ipv6", func(t *testing.T) {
				scenarioIPv6(t, o)
			})
			t.Run("tls", func(t *testing.T) {
				scenarioTLS(t, o)
			})
		})
	}
}

// prepareOTP builds the image of release v if it is missing, and compiles
// this project and the driver with that release's erlc: beams of a newer
// release need not load on an older one. The compile runs with -Werror, as
// `make` does; warnings fail the test but the scenarios still run, so one
// run tells both whether `make` works there and whether the code does.
func prepareOTP(t *testing.T, v int) *otp {
	t.Helper()
	start := time.Now()
	build := exec.Command(filepath.Join(root, "test", "matrix", "build-image.sh"), strconv.Itoa(v))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the OTP %d image: %v\n%s", v, err, out)
	} else if len(out) > 0 {
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
	o := &otp{Release: v, Image: fmt.Sprintf("epmd-docker-otp%d:latest", v)}
	dir, err := os.MkdirTemp(driverDir, fmt.Sprintf("otp%d-", v))
	if err != nil {
		t.Fatal(err)
	}
	o.dir = dir
	for _, d := range []string{"ebin", "priv", "driver"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	compile := func(werror bool) (string, error) {
		flag := ""
		if werror {
			flag = "-Werror"
		}
		script := fmt.Sprintf("erlc %s +debug_info -o /out/ebin /src/erlang/src/*.erl && erlc -o /out/driver /src/test/e2e/e2e_driver.erl", flag)
		out, err := exec.Command("docker", "run", "--rm", "--label", label, "-v", root+":/src:ro", "-v", dir+":/out",
			o.Image, "sh", "-c", script).CombinedOutput()
		return string(out), err
	}
	if out, err := compile(true); err != nil {
		t.Errorf("erlc -Werror on OTP %d (as `make` and rebar3 compile): %v\n%s", v, err, out)
		if out, err := compile(false); err != nil {
			t.Fatalf("erlc on OTP %d: %v\n%s", v, err, out)
		}
	}
	writeAppFile(t, filepath.Join(dir, "ebin"))
	helper := staticHelper(t)
	data, err := os.ReadFile(helper)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "priv", "epmd-docker"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := docker(t, "run", "--rm", "--label", label, o.Image, "erl", "-noshell", "-eval",
		"io:put_chars(erlang:system_info(otp_release)), halt()."); got != strconv.Itoa(v) {
		t.Fatalf("%s runs OTP %s, want %d", o.Image, got, v)
	}
	t.Logf("%s ready in %v", o.Image, time.Since(start).Round(time.Millisecond))
	return o
}

// writeAppFile writes ebin/epmd_docker.app as the Makefile does, so that
// code:priv_dir/1 finds priv/epmd-docker beside ebin/.
func writeAppFile(t *testing.T, ebinDir string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "erlang", "src", "epmd_docker.app.src"))
	if err != nil {
		t.Fatal(err)
	}
	beams, _ := filepath.Glob(filepath.Join(ebinDir, "*.beam"))
	var mods []string
	for _, b := range beams {
		mods = append(mods, strings.TrimSuffix(filepath.Base(b), ".beam"))
	}
	sort.Strings(mods)
	app := strings.Replace(string(src), "{modules, []}", "{modules, ["+strings.Join(mods, ",")+"]}", 1)
	if err := os.WriteFile(filepath.Join(ebinDir, "epmd_docker.app"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	staticHelperOnce sync.Once
	staticHelperPath string
	staticHelperErr  error
)

// staticHelper is priv/epmd-docker if it needs no C library (it then runs on
// every Debian release), else a copy built with CGO_ENABLED=0: a helper
// linked against this machine's glibc does not start on bullseye's older one.
func staticHelper(t *testing.T) string {
	t.Helper()
	staticHelperOnce.Do(func() {
		priv := filepath.Join(root, "priv", "epmd-docker")
		if !isDynamic(priv) {
			staticHelperPath = priv
			return
		}
		staticHelperPath = filepath.Join(driverDir, "epmd-docker-static")
		cmd := exec.Command("go", "build", "-trimpath", "-o", staticHelperPath, "./go/cmd/epmd-docker")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticHelperErr = fmt.Errorf("go build with CGO_ENABLED=0: %v\n%s", err, out)
		}
	})
	if staticHelperErr != nil {
		t.Fatal(staticHelperErr)
	}
	return staticHelperPath
}

// isDynamic says whether the program at path asks for a dynamic loader.
func isDynamic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// The scenarios, for any release: the core ones in core_test.go, IPv6 and
// TLS in ipv6_test.go and tls_test.go, and this one.

// scenarioOldSelect: before OTP 24.2, -epmd_module epmd_docker alone does
// not reach a container node, because inet_tcp_dist:select/1 asks DNS; this
// is why the README asks for -proto_dist epmd_docker there.
func scenarioOldSelect(t *testing.T, o *otp) {
	c := o.startNode(t, nodeSpec{})
	a := o.startAdmin(t, nil, nil)
	if got := a.Connect(c.Node); got != "false" {
		t.Fatalf("on OTP %d without -proto_dist, connect_node(%s) = %s; want false: if true, the README's advice is stale", o.release(), c.Node, got)
	}
}
