package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Settings of the Kubernetes backend, from the environment.
const (
	// EnvReach is how pods are reached: auto, direct or forward.
	EnvReach = "EPMD_DOCKER_KUBE_REACH"
	// EnvIdle is how long a port-forward stays open with no connection
	// through it, as a Go duration (default DefaultIdle).
	EnvIdle = "EPMD_DOCKER_KUBE_FORWARD_IDLE"
	// EnvDisable, set to 1, turns the backend off even with a kubeconfig.
	EnvDisable = "EPMD_DOCKER_KUBE"
)

// Reach is a setting of EPMD_DOCKER_KUBE_REACH.
type Reach string

// The reach settings.
const (
	// ReachAuto dials a pod's address where this host routes it (probed
	// once per node of the cluster), else forwards.
	ReachAuto Reach = "auto"
	// ReachDirect always dials pod addresses.
	ReachDirect Reach = "direct"
	// ReachForward always goes through a port-forward.
	ReachForward Reach = "forward"
)

// DefaultIdle is how long an unused port-forward stays open: longer than
// the gaps between a shell's reconnects, short enough not to pile up.
const DefaultIdle = 2 * time.Minute

// Config is the backend's settings.
type Config struct {
	Reach Reach
	Idle  time.Duration
	Off   bool // EPMD_DOCKER_KUBE=0
}

// ConfigFromEnv reads the settings; a bad value is an error naming it.
func ConfigFromEnv() (Config, error) {
	c := Config{Reach: ReachAuto, Idle: DefaultIdle}
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(EnvReach))); v {
	case "", "auto":
	case "direct", "forward":
		c.Reach = Reach(v)
	default:
		return Config{}, fmt.Errorf("%s=%q: not one of auto, direct, forward", EnvReach, v)
	}
	if v := strings.TrimSpace(os.Getenv(EnvIdle)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s=%q: not a positive duration such as 30s or 2m", EnvIdle, v)
		}
		c.Idle = d
	}
	switch v := strings.TrimSpace(os.Getenv(EnvDisable)); v {
	case "", "1", "on", "auto":
	case "0", "off":
		c.Off = true
	default:
		return Config{}, fmt.Errorf("%s=%q: not 0 (off) or 1 (on, the default)", EnvDisable, v)
	}
	return c, nil
}

// Kubeconfig returns the kubeconfig files kubectl would read (KUBECONFIG,
// a list, else ~/.kube/config) that exist; none means no cluster.
func Kubeconfig() []string {
	var paths []string
	if v := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); v != "" {
		paths = filepath.SplitList(v)
	} else if home, err := os.UserHomeDir(); err == nil {
		paths = []string{filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)}
	}
	var out []string
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// Context is the cluster a kubeconfig's current context names.
type Context struct {
	Name      string // the context's name
	Namespace string // its namespace, "default" when it names none
	Server    string // the API server's URL
	Files     []string
	rest      *rest.Config
}

// ErrNoKubeconfig means no kubeconfig file exists: there is no cluster to
// ask.
var ErrNoKubeconfig = fmt.Errorf("no kubeconfig (%s, or ~/.kube/config)", clientcmd.RecommendedConfigPathEnvVar)

// LoadContext reads the kubeconfig as kubectl does (KUBECONFIG merged,
// else ~/.kube/config; its current context and that context's namespace).
func LoadContext() (Context, error) {
	files := Kubeconfig()
	if len(files) == 0 {
		return Context{}, ErrNoKubeconfig
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	raw, err := cc.RawConfig()
	if err != nil {
		return Context{}, fmt.Errorf("read kubeconfig %s: %w", strings.Join(files, ", "), err)
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return Context{}, fmt.Errorf("kubeconfig %s: %w", strings.Join(files, ", "), err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return Context{}, fmt.Errorf("kubeconfig %s: %w", strings.Join(files, ", "), err)
	}
	rc.UserAgent = "epmd-docker"
	// The defaults (5 queries a second) would throttle a burst of
	// lookups in other namespaces; the watch carries the common case.
	rc.QPS, rc.Burst = 50, 100
	return Context{Name: raw.CurrentContext, Namespace: ns, Server: rc.Host, Files: files, rest: rc}, nil
}
