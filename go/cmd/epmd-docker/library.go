package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// library is where the Erlang side of epmd_docker lives on this machine.
type library struct {
	Ebin   string // directory holding epmd_docker.beam
	Helper string // the helper the Erlang side will start
	// HelperFrom says how the Erlang side finds Helper: "EPMD_DOCKER_HELPER"
	// or "ebin/../priv" (with ", prebuilt for GOOS-GOARCH" for a prebuilt one).
	HelperFrom string
}

// errNoLibrary means the Erlang side of epmd_docker was not found.
var errNoLibrary = errors.New("epmd_docker's ebin not found")

// ebinCandidates are the directories, relative to the one holding this
// binary (ROOT/priv), where epmd_docker's beams may be: `make` builds
// ROOT/ebin, rebar3 builds ROOT/_build/default/lib/epmd_docker/ebin, and
// as a rebar3 dependency the binary is in .../lib/epmd_docker/priv with the
// beams beside it in .../lib/epmd_docker/ebin (the first form again). A
// prebuilt helper (make dist, the package) is one level deeper, in
// ROOT/priv/GOOS-GOARCH.
var ebinCandidates = []string{
	"../ebin",
	"../_build/default/lib/epmd_docker/ebin",
	"../../ebin",
	"../../_build/default/lib/epmd_docker/ebin",
}

// findLibrary looks for epmd_docker's ebin next to this executable, symlinks
// resolved, and for the helper the Erlang side will then start: the
// program EPMD_DOCKER_HELPER names, or else the prebuilt
// priv/GOOS-GOARCH/epmd-docker or priv/epmd-docker beside ebin, which is
// where epmd_docker_helper looks (code:priv_dir/1, or ../priv
// next to its beam).
func findLibrary() (library, error) {
	exe, err := os.Executable()
	if err != nil {
		return library{}, fmt.Errorf("%w: cannot tell where this program is: %v", errNoLibrary, err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return findLibraryFrom(filepath.Dir(exe))
}

// findLibraryFrom is findLibrary for a binary in dir.
func findLibraryFrom(dir string) (library, error) {
	var tried []string
	for _, c := range ebinCandidates {
		ebin := filepath.Clean(filepath.Join(dir, c))
		tried = append(tried, ebin)
		if _, err := os.Stat(filepath.Join(ebin, "epmd_docker.beam")); err != nil {
			continue
		}
		lib := library{Ebin: ebin, Helper: filepath.Join(ebin, "..", "priv", "epmd-docker"), HelperFrom: "ebin/../priv"}
		// The Erlang side prefers the prebuilt helper for its system
		// (priv/GOOS-GOARCH, see helper_paths/1 in epmd_docker_helper);
		// this program's own system is the best guess without asking erl.
		prebuilt := filepath.Join(ebin, "..", "priv", runtime.GOOS+"-"+runtime.GOARCH, "epmd-docker")
		if _, err := os.Stat(prebuilt); err == nil {
			lib.Helper, lib.HelperFrom = prebuilt, "ebin/../priv, prebuilt for "+runtime.GOOS+"-"+runtime.GOARCH
		}
		if h := os.Getenv("EPMD_DOCKER_HELPER"); h != "" {
			lib.Helper, lib.HelperFrom = h, "EPMD_DOCKER_HELPER"
		}
		lib.Helper = filepath.Clean(lib.Helper)
		return lib, nil
	}
	return library{}, fmt.Errorf("%w: no epmd_docker.beam in %s; build it with `make` in the epmd_docker checkout", errNoLibrary, strings.Join(tried, " or "))
}

// checkHelper reports whether the helper the Erlang side will start exists
// and may be executed.
func (l library) checkHelper() error {
	fi, err := os.Stat(l.Helper)
	switch {
	case err != nil:
		return fmt.Errorf("helper %s (from %s): %w", l.Helper, l.HelperFrom, err)
	case fi.IsDir():
		return fmt.Errorf("helper %s (from %s) is a directory", l.Helper, l.HelperFrom)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("helper %s (from %s) is not executable", l.Helper, l.HelperFrom)
	}
	return nil
}
