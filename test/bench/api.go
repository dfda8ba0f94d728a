package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// rawAPI talks to the Docker Engine API over its unix socket with nothing
// but net/http: the cost of one request, without any client library. One
// connection is kept alive, as the helper's client does.
type rawAPI struct {
	http    *http.Client
	version string // API version in the path, as negotiated by /_ping
}

// newRawAPI connects to the daemon of DOCKER_HOST (a unix socket) or the
// default socket.
func newRawAPI(ctx context.Context) (*rawAPI, error) {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return nil, fmt.Errorf("DOCKER_HOST=%s: the raw API timings need a unix socket", h)
		}
		sock = p
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 1,
	}
	a := &rawAPI{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("docker socket %s: %w", sock, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a.version = resp.Header.Get("Api-Version")
	if a.version == "" {
		return nil, fmt.Errorf("docker socket %s: no Api-Version in the answer to /_ping", sock)
	}
	return a, nil
}

// get requests path and reads the whole answer, which must be 200 OK.
func (a *rawAPI) get(ctx context.Context, path string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/v"+a.version+path, nil)
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// time runs n requests of path(i), each timed.
func (a *rawAPI) time(ctx context.Context, n int, path func(i int) string) (series, error) {
	out := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if _, err := a.get(ctx, path(i)); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return newSeries(out), nil
}

// round times what a helper's first lookup asks of Docker: one container
// list, then an inspect of every container listed, conc at a time, as
// package resolve does for its first round.
func (a *rawAPI) round(ctx context.Context, conc int) (time.Duration, error) {
	t0 := time.Now()
	body, err := a.get(ctx, "/containers/json")
	if err != nil {
		return 0, err
	}
	var list []struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, fmt.Errorf("container list: %v", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, conc)
	)
	for _, c := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := a.get(ctx, "/containers/"+c.ID+"/json"); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return time.Since(t0), first
}

// serverVersion is the daemon's version and its API version.
func (a *rawAPI) serverVersion(ctx context.Context) (string, error) {
	body, err := a.get(ctx, "/version")
	if err != nil {
		return "", err
	}
	var v struct{ Version, APIVersion string }
	if err := json.Unmarshal(body, &v); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (API %s)", v.Version, v.APIVersion), nil
}

// runningCount is how many containers are running in all.
func (a *rawAPI) runningCount(ctx context.Context) (int, error) {
	body, err := a.get(ctx, "/containers/json")
	if err != nil {
		return 0, err
	}
	var list []json.RawMessage
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, err
	}
	return len(list), nil
}
