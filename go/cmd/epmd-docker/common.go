package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

// newLogger logs to w (stderr) at the level EPMD_DOCKER_LOG names.
func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(os.Getenv("EPMD_DOCKER_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("prog", "epmd-docker")
}

// version is the module version stamped by the Go toolchain, or "devel".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = v + " " + s.Value[:12]
			}
		}
		if v != "" {
			return v
		}
	}
	return "devel"
}

// exitCode prints err for a person and maps it to an exit status. Nothing
// else in the program calls os.Exit.
func exitCode(stderr io.Writer, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "epmd-docker: %s\nrun 'epmd-docker help' for usage\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return exitUsage
	case errors.Is(err, errQuiet):
		return exitFailed
	case errors.Is(err, wire.ErrUnavailable):
		fmt.Fprintf(stderr, "epmd-docker: %v\n", err)
		return exitUnavailable
	default:
		fmt.Fprintf(stderr, "epmd-docker: %v\n", err)
		return exitFailed
	}
}

// errQuiet is a failure whose explanation the command already printed.
var errQuiet = errors.New("failed")
