package e2e

// What the helper asks of the Docker daemon: read-only endpoints, as
// documented, and never the cookie.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The helper only reads from Docker, through the endpoints the docker
// package lists, and the cookie appears neither in the helper's arguments
// or environment, nor in anything it logs or sends to Docker. The helper
// talks to Docker through a recording proxy here, at debug log level,
// across lookups, a listing, a container start (an event, then an
// inspect) and a restart of the helper (a new subscription).
func TestSecurityReadOnlyNoCookie(t *testing.T) {
	proxy := startDockerProxy(t)
	c := startNode(t, nodeSpec{})
	a := startAdmin(t, []string{"DOCKER_HOST=" + proxy.host, "EPMD_DOCKER_LOG=debug"})
	if got := a.Connect(c.Node); got != "true" {
		t.Fatalf("connect_node(%s) through the proxy = %s\n%s", c.Node, got, a.Output())
	}
	a.Eval("epmd_docker:containers()", 10*time.Second)
	a.Eval("epmd_docker:nodes()", 20*time.Second)
	a.Eval(`epmd_docker:resolve("no-such-host")`, 10*time.Second)
	id := runSleeper(t)
	host := docker(t, "inspect", "-f", "{{.Config.Hostname}}", id)
	waitEval(t, a, fmt.Sprintf(`epmd_docker:resolve("%s")`, host), 10*time.Second,
		func(s string) bool { return strings.HasPrefix(s, "{ok,") })

	pid := helperOSPid(t, a)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	must(t, err)
	if args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"); len(args) != 2 || filepath.Base(args[0]) != "epmd-docker" || args[1] != "port" {
		t.Errorf("helper command line %q, want [.../epmd-docker port]", args)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	must(t, err)
	if strings.Contains(string(environ), cookie) {
		t.Errorf("the cookie is in the helper's environment")
	}
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	waitHelperUp(t, a, pid)
	waitEval(t, a, fmt.Sprintf(`epmd_docker:resolve("%s")`, host), 10*time.Second,
		func(s string) bool { return strings.HasPrefix(s, "{ok,") })

	allowed := documentedEndpoints(t)
	seen := map[string]int{}
	for _, call := range proxy.calls() {
		method, rest, _ := strings.Cut(call, " ")
		path, query, _ := strings.Cut(rest, "?")
		if !allowed.MatchString(method + " " + path) {
			t.Errorf("the helper called %s", call)
		}
		if strings.Contains(call, cookie) {
			t.Errorf("the cookie was sent to Docker: %s", call)
		}
		_ = query
		ep := regexp.MustCompile(`^/v[0-9.]+`).ReplaceAllString(path, "")
		ep = regexp.MustCompile(`/containers/[0-9a-f]{64}/`).ReplaceAllString(ep, "/containers/{id}/")
		seen[method+" "+ep]++
	}
	t.Logf("Docker API calls by the helper: %v", seen)
	for _, want := range []string{"GET /containers/json", "GET /events"} {
		if seen[want] == 0 {
			t.Errorf("no %s seen: is the helper using the proxy?", want)
		}
	}
	if strings.Contains(a.Output(), cookie) {
		t.Errorf("the cookie appears in the node's output (its log, or the helper's)")
	}
}

// documentedEndpoints reads the list of endpoints in the docker package's
// comment, the one place they are written down, and returns a pattern for
// "METHOD /path" that matches them and nothing else. GET endpoints may be
// asked with HEAD too (the client pings with HEAD /_ping first).
func documentedEndpoints(t *testing.T) *regexp.Regexp {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "go", "internal", "docker", "docker.go"))
	must(t, err)
	line := regexp.MustCompile(`(?m)^//\t(GET) (/\S*)`)
	var paths []string
	for _, m := range line.FindAllStringSubmatch(string(src), -1) {
		path, _, _ := strings.Cut(m[2], "?")
		path = regexp.QuoteMeta(path)
		path = strings.ReplaceAll(path, `\{id\}`, `[0-9a-f]{64}`)
		paths = append(paths, path)
	}
	if len(paths) < 4 {
		t.Fatalf("found %d endpoints in the docker package's comment, want its list", len(paths))
	}
	return regexp.MustCompile(`^(GET|HEAD) (/v[0-9.]+)?(` + strings.Join(paths, "|") + `)$`)
}

// dockerProxy forwards Docker API requests to the system's daemon and
// records each request line.
type dockerProxy struct {
	host string // DOCKER_HOST for it
	mu   sync.Mutex
	log  []string
}

func (p *dockerProxy) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func startDockerProxy(t *testing.T) *dockerProxy {
	t.Helper()
	upstream := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			t.Skipf("DOCKER_HOST=%s: the recording proxy speaks to unix sockets only", h)
		}
		upstream = strings.TrimPrefix(h, "unix://")
	}
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	l, err := net.Listen("unix", sock)
	must(t, err)
	p := &dockerProxy{host: "unix://" + sock}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", upstream)
			},
		},
		FlushInterval: -1, // the event stream
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.log = append(p.log, r.Method+" "+r.URL.RequestURI())
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}
