package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args      []string
		pos, rest []string
		json      bool
		cookie    string
	}{
		{[]string{"web"}, []string{"web"}, nil, false, ""},
		{[]string{"--json", "web"}, []string{"web"}, nil, true, ""},
		{[]string{"web", "--json"}, []string{"web"}, nil, true, ""},
		{[]string{"web", "--cookie", "c", "x"}, []string{"web", "x"}, nil, false, "c"},
		{[]string{"web", "--", "-name", "x"}, []string{"web"}, []string{"-name", "x"}, false, ""},
		{[]string{"--", "web"}, nil, []string{"web"}, false, ""},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		j := fs.Bool("json", false, "")
		c := fs.String("cookie", "", "")
		pos, rest, err := parseFlags(fs, "t", "help", &strings.Builder{}, tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(pos, tt.pos) || !reflect.DeepEqual(rest, tt.rest) || *j != tt.json || *c != tt.cookie {
			t.Errorf("%q: got %q %q json=%v cookie=%q, want %q %q json=%v cookie=%q", tt.args, pos, rest, *j, *c, tt.pos, tt.rest, tt.json, tt.cookie)
		}
	}

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	if _, _, err := parseFlags(fs, "t", "help", &strings.Builder{}, []string{"--nope"}); !errors.Is(err, errUsage) {
		t.Errorf("unknown flag: got %v, want a usage error", err)
	}
	var help strings.Builder
	if _, _, err := parseFlags(fs, "t", "the help", &help, []string{"--help"}); !errors.Is(err, flag.ErrHelp) || help.String() != "the help" {
		t.Errorf("--help: got %v and %q", err, help.String())
	}
}

func TestRemshArgv(t *testing.T) {
	got := remshArgv("erl", "/r/ebin", "remsh-1", "app@web", []string{"-kernel", "x", "y"})
	want := []string{"erl", "-pa", "/r/ebin", "-start_epmd", "false", "-epmd_module", "epmd_docker", "-hidden", "-sname", "remsh-1", "-remsh", "app@web", "-kernel", "x", "y"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("erl: got %q, want %q", got, want)
	}
	got = remshArgv("iex", "/r/ebin", "remsh-1", "app@web", nil)
	want = []string{"iex", "--sname", "remsh-1", "--hidden", "--remsh", "app@web", "--erl", "-pa /r/ebin -start_epmd false -epmd_module epmd_docker"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("iex: got %q, want %q", got, want)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"erl", "-pa", "/a b/ebin", "it's", "", "app@web"})
	want := `erl -pa '/a b/ebin' 'it'\''s' '' app@web`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestSetcookieArg(t *testing.T) {
	tests := []struct {
		cmd  []string
		want string
		ok   bool
	}{
		{[]string{"erl", "-sname", "a", "-setcookie", "c1"}, "c1", true},
		{[]string{"sh", "-c", "erl -sname a -setcookie 'c2' -noshell"}, "c2", true},
		{[]string{"iex", "--sname", "a", "--cookie", "c3"}, "c3", true},
		{[]string{"erl", "-sname", "a"}, "", false},
		{[]string{"erl", "-setcookie"}, "", false},
	}
	for _, tt := range tests {
		got, ok := setcookieArg(tt.cmd)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q: got %q %v, want %q %v", tt.cmd, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheckCookie(t *testing.T) {
	for _, c := range []string{"abc", "A b~!", strings.Repeat("x", 255)} {
		if err := checkCookie(c); err != nil {
			t.Errorf("%q: %v", c, err)
		}
	}
	for _, c := range []string{"", "a\nb", "é", "a\x00"} {
		if err := checkCookie(c); err == nil {
			t.Errorf("%q: accepted", c)
		}
	}
}

func TestPrivateEnv(t *testing.T) {
	t.Setenv("HOME", "/home/me")
	got := privateEnv([]string{"HOME=/home/me", "PATH=/bin", "XDG_CACHE_HOME=/c"}, "/run/x")
	want := []string{"PATH=/bin", "XDG_CACHE_HOME=/c", "HOME=/run/x", "XDG_CONFIG_HOME=/home/me/.config"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFindLibraryFrom(t *testing.T) {
	t.Setenv("EPMD_DOCKER_HELPER", "")
	dir := t.TempDir()
	for _, d := range []string{"make/priv", "make/ebin", "rebar/priv", "rebar/_build/default/lib/epmd_docker/ebin", "none/priv"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"make/ebin", "rebar/_build/default/lib/epmd_docker/ebin"} {
		if err := os.WriteFile(filepath.Join(dir, b, "epmd_docker.beam"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "make/priv/epmd-docker"), nil, 0o755); err != nil {
		t.Fatal(err)
	}

	l, err := findLibraryFrom(filepath.Join(dir, "make/priv"))
	if err != nil || l.Ebin != filepath.Join(dir, "make/ebin") || l.Helper != filepath.Join(dir, "make/priv/epmd-docker") {
		t.Errorf("make layout: got %+v, %v", l, err)
	}
	if err := l.checkHelper(); err != nil {
		t.Errorf("make layout helper: %v", err)
	}
	l, err = findLibraryFrom(filepath.Join(dir, "rebar/priv"))
	if err != nil || l.Ebin != filepath.Join(dir, "rebar/_build/default/lib/epmd_docker/ebin") {
		t.Errorf("rebar3 layout: got %+v, %v", l, err)
	}
	if err := l.checkHelper(); err == nil {
		t.Errorf("rebar3 layout: a missing helper passed")
	}
	if _, err := findLibraryFrom(filepath.Join(dir, "none/priv")); !errors.Is(err, errNoLibrary) {
		t.Errorf("no layout: got %v, want errNoLibrary", err)
	}

	// A prebuilt helper for this system wins over the local build, as on
	// the Erlang side, and finds the beams from its own directory too.
	sys := runtime.GOOS + "-" + runtime.GOARCH
	prebuilt := filepath.Join(dir, "make/priv", sys, "epmd-docker")
	if err := os.MkdirAll(filepath.Dir(prebuilt), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prebuilt, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"make/priv", "make/priv/" + sys} {
		l, err = findLibraryFrom(filepath.Join(dir, from))
		if err != nil || l.Ebin != filepath.Join(dir, "make/ebin") || l.Helper != prebuilt {
			t.Errorf("make layout with a prebuilt helper, from %s: got %+v, %v", from, l, err)
		}
	}

	t.Setenv("EPMD_DOCKER_HELPER", "/opt/helper")
	l, _ = findLibraryFrom(filepath.Join(dir, "make/priv"))
	if l.Helper != "/opt/helper" || l.HelperFrom != "EPMD_DOCKER_HELPER" {
		t.Errorf("EPMD_DOCKER_HELPER: got %+v", l)
	}
}

func TestOTPVersion(t *testing.T) {
	for v, want := range map[string][2]int{"25.2.3": {25, 2}, "24": {24, 0}, "26.0": {26, 0}, "": {0, 0}} {
		if maj, min := otpVersion(v); maj != want[0] || min != want[1] {
			t.Errorf("%q: got %d.%d, want %d.%d", v, maj, min, want[0], want[1])
		}
	}
}

func TestRemoteDaemon(t *testing.T) {
	for host, want := range map[string]bool{
		"unix:///var/run/docker.sock": false,
		"tcp://127.0.0.1:2375":        false,
		"tcp://localhost:2375":        false,
		"tcp://10.0.0.5:2376":         true,
		"ssh://me@build.example.com":  true,
	} {
		if got, _ := remoteDaemon(host); got != want {
			t.Errorf("%s: got %v, want %v", host, got, want)
		}
	}
}

func TestParseCookieFile(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"abc", "abc", true},
		{"abc\n", "abc", true},
		{"abc \r\n \n", "abc ", true}, // as auth:read_cookie/1: blanks before the newline count
		{"a b", "a b", true},
		{"", "", false},
		{"\n", "", false},
		{"abc\ndef", "", false},
		{"abc\x00", "", false},
	}
	for _, tt := range tests {
		got, err := parseCookieFile([]byte(tt.in))
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("%q: got %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
