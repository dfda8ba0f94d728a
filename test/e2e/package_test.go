package e2e

// What a user without Go consumes: the prebuilt helpers of `make dist`
// (static, for Linux and macOS on amd64 and arm64, reproducible, checked by
// SHA256SUMS), the linux/arm64 one run under qemu, and the hex package
// layout of `make package`, built into a throwaway rebar3 project with no
// Go on PATH.

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// distSystems are the systems `make dist` builds for (Makefile DIST_SYSTEMS).
var distSystems = []string{"linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"}

// prebuiltHelper is where a dependency keeps the prebuilt helper for the
// system these tests run on.
var prebuiltHelper = filepath.Join("priv", runtime.GOOS+"-"+runtime.GOARCH, "epmd-docker")

// appVersion is the vsn of erlang/src/epmd_docker.app.src, which the
// Makefile stamps into the helpers.
func appVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "erlang", "src", "epmd_docker.app.src"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\{vsn, *"([^"]*)"\}`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no vsn in epmd_docker.app.src")
	}
	return string(m[1])
}

// distFiles are the helpers of `make dist` relative to priv/; the test
// fails when one is missing (`make test` runs `make dist` first).
func distFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, sys := range distSystems {
		rel := filepath.Join(sys, "epmd-docker")
		if _, err := os.Stat(filepath.Join(root, "priv", rel)); err != nil {
			t.Fatalf("prebuilt helper missing: %v; run `make dist` (make test does)", err)
		}
		files = append(files, rel)
	}
	return files
}

// noGo is vars with a PATH that has no `go`: this PATH without every
// directory holding a go executable. The tools the tests run must remain.
func noGo(t *testing.T, vars []string) []string {
	t.Helper()
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if fi, err := os.Stat(filepath.Join(dir, "go")); err == nil && !fi.IsDir() {
			continue
		}
		keep = append(keep, dir)
	}
	path := strings.Join(keep, string(os.PathListSeparator))
	for _, tool := range []string{"erl", "rebar3", "git", "tmux", "sh"} {
		if _, err := lookPathIn(tool, path); err != nil {
			t.Fatalf("without the directories that hold go, PATH has no %s: %v", tool, err)
		}
	}
	if p, err := lookPathIn("go", path); err == nil {
		t.Fatalf("go is still on PATH at %s", p)
	}
	out := ecoPlus(vars, "PATH="+path)
	return out
}

// lookPathIn is exec.LookPath with PATH set to path.
func lookPathIn(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", name, path)
}

// The helpers are static executables of the right format and architecture,
// SHA256SUMS lists exactly them, and a second `make dist` from a copy of
// the tree at another path, into another directory, gives the same
// checksums.
func TestDistHelpers(t *testing.T) {
	files := distFiles(t)
	want := map[string]struct {
		elf   elf.Machine
		macho macho.Cpu
	}{
		"linux-amd64":  {elf: elf.EM_X86_64},
		"linux-arm64":  {elf: elf.EM_AARCH64},
		"darwin-amd64": {macho: macho.CpuAmd64},
		"darwin-arm64": {macho: macho.CpuArm64},
	}
	for _, rel := range files {
		path := filepath.Join(root, "priv", rel)
		sys := filepath.Dir(rel)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes (%.1f MiB)", rel, fi.Size(), float64(fi.Size())/(1<<20))
		if w := want[sys]; w.elf != 0 {
			f, err := elf.Open(path)
			if err != nil {
				t.Fatalf("%s: not ELF: %v", rel, err)
			}
			if f.Machine != w.elf {
				t.Errorf("%s: machine %v, want %v", rel, f.Machine, w.elf)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("%s: has %v, want a static executable", rel, p.Type)
				}
			}
			f.Close()
		} else {
			f, err := macho.Open(path)
			if err != nil {
				t.Fatalf("%s: not Mach-O: %v", rel, err)
			}
			if f.Cpu != w.macho || f.Type != macho.TypeExec {
				t.Errorf("%s: cpu %v type %v, want %v executable", rel, f.Cpu, f.Type, w.macho)
			}
			f.Close()
		}
	}

	sums, err := os.ReadFile(filepath.Join(root, "priv", "SHA256SUMS"))
	if err != nil {
		t.Fatalf("priv/SHA256SUMS: %v", err)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || len(f[0]) != 64 {
			t.Fatalf("SHA256SUMS line %q is not HASH  FILE", line)
		}
		listed = append(listed, f[1])
	}
	sort.Strings(listed)
	sorted := append([]string(nil), files...)
	sort.Strings(sorted)
	if strings.Join(listed, " ") != strings.Join(sorted, " ") {
		t.Errorf("SHA256SUMS lists %v, want %v", listed, sorted)
	}
	check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	check.Dir = filepath.Join(root, "priv")
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check in priv: %v\n%s", err, out)
	}

	t.Run("reproducible", func(t *testing.T) {
		// A copy of the tree elsewhere (so -trimpath matters), built into a
		// directory of its own.
		src := strings.TrimPrefix(ecoSnapshot(t), "file://")
		out := t.TempDir()
		start := time.Now()
		ecoRun(t, src, ecoEnviron("GOPROXY=off"), 15*time.Minute, "make", "dist", "DIST_DIR="+out)
		t.Logf("make dist from %s into %s: %v", src, out, time.Since(start).Round(time.Millisecond))
		again, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, sums) {
			t.Errorf("a second make dist gave other checksums:\n%s\nwant (priv/SHA256SUMS):\n%s", again, sums)
		}
	})
}

// The linux/arm64 helper runs under Debian's qemu-user-static: `version`
// reports the application's version, and `resolve` finds a container
// through the local daemon.
func TestDistArm64UnderQemu(t *testing.T) {
	ecoRequire(t, "qemu-aarch64-static")
	distFiles(t)
	helper := filepath.Join(root, "priv", "linux-arm64", "epmd-docker")
	out, err := exec.Command("qemu-aarch64-static", helper, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-aarch64-static %s version: %v\n%s", helper, err, out)
	}
	if got, want := strings.TrimSpace(string(out)), appVersion(t); got != want {
		t.Errorf("version: got %q, want %q", got, want)
	}
	c := startNode(t, nodeSpec{})
	ip := docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", c.ID)
	out, err = exec.Command("qemu-aarch64-static", helper, "resolve", c.Hostname).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-aarch64-static %s resolve %s: %v\n%s", helper, c.Hostname, err, out)
	}
	addr := strings.Fields(ip)[0]
	if !regexp.MustCompile(`(?m)^address +` + regexp.QuoteMeta(addr) + `$`).Match(out) {
		t.Errorf("resolve %s under qemu: want address %s, got:\n%s", c.Hostname, addr, out)
	}
}

// `make package` lays out the hex package and its tarball. Unpacked, it is
// a dependency of a throwaway rebar3 project that compiles with no Go on
// PATH, and whose shell, a hidden node, reaches a container node through
// the prebuilt helper. Without a prebuilt helper for this system the hook
// stops with one message that says what is missing and what to do, and a
// helper that does not match its checksum is refused.
func TestPackage(t *testing.T) {
	ecoRequire(t, "rebar3", "git", "tmux", "tar")
	distFiles(t)
	vsn := appVersion(t)
	out := t.TempDir()
	pkg := filepath.Join(out, "epmd_docker-"+vsn)
	ecoRun(t, root, ecoEnviron("GOPROXY=off"), 15*time.Minute, "make", "package", "PKG="+pkg)

	// hex.pm takes packages up to 16 MiB compressed and 128 MiB unpacked
	// (hex_core's limits since 0.10.1).
	fi, err := os.Stat(pkg + ".tar.gz")
	must(t, err)
	t.Logf("%s: %d bytes", filepath.Base(pkg)+".tar.gz", fi.Size())
	// Since the SSH and context support (github.com/docker/cli) the four
	// helpers made it about 17 MB, and since the Kubernetes backend
	// (k8s.io/client-go, k8s.io/api: each helper went from 11.5 to 22.5
	// MB) about 31 MB, well over hex.pm's 16 MiB: publishing needs the
	// helpers split out (README, Install). What is checked here is that
	// nothing unstripped or unexpected slipped in.
	if fi.Size() > 40<<20 {
		t.Errorf("the package is %d bytes: more than four stripped helpers and the sources", fi.Size())
	}

	unpacked := t.TempDir()
	ecoRun(t, unpacked, nil, time.Minute, "tar", "-xzf", pkg+".tar.gz")
	dir := filepath.Join(unpacked, "epmd_docker-"+vsn)
	listing := ecoRun(t, dir, nil, time.Minute, "find", ".", "-type", "f")
	for _, want := range []string{
		"./src/epmd_docker.app.src", "./src/epmd_docker.erl", "./src/epmd_docker_helper.erl",
		"./src/epmd_docker_carrier.hrl", "./priv/SHA256SUMS", "./rebar.config",
		"./scripts/ensure-helper.sh", "./README.md", "./LICENSE", "./Makefile", "./go.mod",
		"./go/cmd/epmd-docker/main.go",
	} {
		if !strings.Contains(listing, want+"\n") {
			t.Errorf("package has no %s; it has:\n%s", want, listing)
		}
	}
	for _, sys := range distSystems {
		if !strings.Contains(listing, "./priv/"+sys+"/epmd-docker\n") {
			t.Errorf("package has no prebuilt helper for %s", sys)
		}
	}
	if strings.Contains(listing, "_test.go") || strings.Contains(listing, ".beam") || strings.Contains(listing, "./priv/epmd-docker\n") {
		t.Errorf("package holds tests or build output:\n%s", listing)
	}
	if strings.Contains(listing, "dockertest") {
		t.Errorf("package holds the test helper package dockertest")
	}
	appSrc, err := os.ReadFile(filepath.Join(dir, "src", "epmd_docker.app.src"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{licenses, ["Apache-2.0"]}`, `{files, [`, `{links, [`} {
		if !strings.Contains(string(appSrc), want) {
			t.Errorf("package .app.src has no %s:\n%s", want, appSrc)
		}
	}

	// The unpacked package as a rebar3 checkout dependency, as README's
	// Install says: rebar3 builds it with its own rebar.config and hook.
	vars := noGo(t, ecoVars(t))
	env := ecoEnviron(vars...)
	c := startNode(t, nodeSpec{})
	project := packageProject(t, dir, nil)
	ecoRun(t, project, env, 5*time.Minute, "rebar3", "compile")
	dep := filepath.Join(project, "_build", "default", "checkouts", "epmd_docker")
	ecoRequireHelper(t, dep, prebuiltHelper)
	shell := "admin" + randHex(3)
	session := ecoTmux(t, project, ecoPlus(vars, "ERL_FLAGS=-start_epmd false -epmd_module epmd_docker -hidden"),
		"rebar3", "shell", "--sname", shell, "--setcookie", cookie)
	waitScreen(t, session, "("+shell+"@", 60*time.Second)
	typeLine(t, session, fmt.Sprintf("{net_kernel:connect_node('%s'), rpc:call('%s', erlang, node, []), %s}.", c.Node, c.Node, helperUsed(prebuiltHelper)))
	waitScreen(t, session, "{true,"+atom(c.Node)+",true}", 30*time.Second)

	t.Run("mix_path_dependency", func(t *testing.T) {
		ecoRequire(t, "mix")
		project := filepath.Join(t.TempDir(), "ops")
		pkgCopy := filepath.Join(t.TempDir(), "epmd_docker-"+vsn)
		ecoRun(t, "", nil, time.Minute, "cp", "-a", dir, pkgCopy)
		must(t, os.MkdirAll(project, 0o755))
		mixExs := fmt.Sprintf(`defmodule Ops.MixProject do
  use Mix.Project
  def project, do: [app: :ops, version: "0.1.0", deps: [{:epmd_docker, path: %q, manager: :rebar3}]]
end
`, pkgCopy)
		must(t, os.WriteFile(filepath.Join(project, "mix.exs"), []byte(mixExs), 0o644))
		ecoRun(t, project, env, 5*time.Minute, "mix", "compile")
		dep := filepath.Join(project, "_build", "prod", "lib", "epmd_docker")
		ecoRequireHelper(t, dep, prebuiltHelper)
		expr := fmt.Sprintf("io:format(\"~p~n\", [{net_kernel:connect_node('%s'), %s}]), halt().", c.Node, helperUsed(prebuiltHelper))
		got := ecoRun(t, project, env, time.Minute, "erl", "-noshell", "-pa", filepath.Join(dep, "ebin"),
			"-start_epmd", "false", "-epmd_module", "epmd_docker", "-hidden",
			"-sname", "admin"+randHex(3), "-setcookie", cookie, "-eval", expr)
		if !strings.Contains(got, "{true,true}") {
			t.Errorf("from the Mix project: {connect_node, prebuilt helper used} printed %q, want {true,true}", got)
		}
	})

	t.Run("no_helper_for_this_system", func(t *testing.T) {
		project := packageProject(t, dir, func(pkg string) {
			must(t, os.RemoveAll(filepath.Join(pkg, filepath.Dir(prebuiltHelper))))
		})
		got, err := ecoTry(project, env, 5*time.Minute, "rebar3", "compile")
		if err == nil {
			t.Fatalf("rebar3 compile without Go and without a helper for this system succeeded:\n%s", got)
		}
		for _, want := range []string{
			"epmd_docker: no helper program for this system (" + runtime.GOOS + "-" + runtime.GOARCH + ")",
			"Go, needed to build priv/epmd-docker, is not on PATH",
			"install Go 1.26 or later (https://go.dev/dl/)",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("rebar3 compile output lacks %q:\n%s", want, got)
			}
		}
	})

	t.Run("checksum_mismatch", func(t *testing.T) {
		project := packageProject(t, dir, func(pkg string) {
			f, err := os.OpenFile(filepath.Join(pkg, prebuiltHelper), os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = f.Write([]byte{0})
			must(t, err)
			must(t, f.Close())
		})
		got, err := ecoTry(project, env, 5*time.Minute, "rebar3", "compile")
		if err == nil || !strings.Contains(got, "does not match its checksum in priv/SHA256SUMS") {
			t.Errorf("rebar3 compile with a damaged prebuilt helper: err %v, want the checksum refusal; output:\n%s", err, got)
		}
	})
}

// packageProject is the rebar3_admin fixture with a copy of the unpacked
// package pkg at _checkouts/epmd_docker (changed by edit, if not nil),
// which rebar3 uses instead of fetching the dependency.
func packageProject(t *testing.T, pkg string, edit func(copy string)) string {
	t.Helper()
	project := ecoFixture(t, "rebar3_admin", map[string]string{
		"EPMD_DOCKER_GIT": "file:///nonexistent/epmd_docker.git",
		"NODE":            "ops" + randHex(3),
		"COOKIE":          cookie,
		"DIST_PORT":       "0",
	})
	copy := filepath.Join(project, "_checkouts", "epmd_docker")
	must(t, os.MkdirAll(filepath.Dir(copy), 0o755))
	ecoRun(t, "", nil, time.Minute, "cp", "-a", pkg, copy)
	if edit != nil {
		edit(copy)
	}
	return project
}
