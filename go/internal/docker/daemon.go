package docker

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/context/store"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"
)

// Source says how the docker CLI's rules chose the daemon.
type Source string

// The sources, in the order the docker CLI consults them.
const (
	FromDockerHost    Source = "DOCKER_HOST"
	FromDockerContext Source = "DOCKER_CONTEXT"
	FromConfig        Source = "currentContext" // in $DOCKER_CONFIG/config.json
	FromDefault       Source = "default"        // nothing set: the local socket
)

// DefaultContext is the docker CLI's name for the context that DOCKER_HOST,
// or the default socket, makes.
const DefaultContext = "default"

// Daemon is where the Docker daemon is, and how that was decided.
type Daemon struct {
	// Host is the daemon address: unix:///var/run/docker.sock,
	// tcp://HOST:2376, ssh://user@HOST, ...
	Host string
	// Context is the docker context in use; DefaultContext when none is.
	Context string
	// Source says what chose it.
	Source Source
	// ConfigFile is the config.json that was read (or would have been).
	ConfigFile string
	// TLS is the context's TLS configuration (its ca.pem, cert.pem and
	// key.pem in the context store, and SkipTLSVerify); nil when it has
	// none, and always nil for the default context, whose TLS comes from
	// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as for the docker CLI.
	TLS *tls.Config
	// Warning is something a person should know that did not stop the
	// choice (a config.json that cannot be read, as the docker CLI only
	// warns about it); "" when none.
	Warning string
}

// Why says for a person how the endpoint was chosen: "context colima
// (currentContext in /home/me/.docker/config.json)", "DOCKER_HOST", ...
func (e Daemon) Why() string {
	switch e.Source {
	case FromDockerHost:
		return "DOCKER_HOST"
	case FromDockerContext:
		return "context " + e.Context + " (DOCKER_CONTEXT)"
	case FromConfig:
		return "context " + e.Context + " (currentContext in " + e.ConfigFile + ")"
	}
	return "default; DOCKER_HOST, DOCKER_CONTEXT and currentContext unset"
}

// DaemonFromEnv finds the daemon as the docker CLI does: DOCKER_HOST;
// else the context DOCKER_CONTEXT names; else the currentContext of
// $DOCKER_CONFIG/config.json (default ~/.docker/config.json); else the
// default socket. A context comes from the CLI's context store
// ($DOCKER_CONFIG/contexts), with its endpoint's TLS material. A context
// named but not in the store is an error, as for the docker CLI.
func DaemonFromEnv() (Daemon, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/"
		}
		dir = filepath.Join(home, ".docker")
	}
	ep := Daemon{Context: DefaultContext, Source: FromDefault, ConfigFile: filepath.Join(dir, "config.json")}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		ep.Host, ep.Source = h, FromDockerHost
		return ep, nil
	}
	name := os.Getenv("DOCKER_CONTEXT")
	if name != "" {
		ep.Source = FromDockerContext
	} else {
		current, err := currentContext(ep.ConfigFile)
		if err != nil {
			ep.Warning = err.Error()
		}
		if current != "" {
			name, ep.Source = current, FromConfig
		}
	}
	if name == "" || name == DefaultContext {
		ep.Host = client.DefaultDockerHost
		return ep, nil
	}
	ep.Context = name
	if err := ep.fromStore(filepath.Join(dir, "contexts")); err != nil {
		return ep, fmt.Errorf("docker context %q (%s): %w", name, ep.Why(), err)
	}
	return ep, nil
}

// currentContext reads config.json's currentContext; "" when the file or
// the field is absent.
func currentContext(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	return cfg.CurrentContext, nil
}

// dockerEndpoint is the context store's "docker" endpoint, as the docker
// CLI writes it (its context.EndpointMetaBase). The CLI's own type lives in
// a package that brings a second Docker API client with it; the store
// package alone does not.
type dockerEndpoint struct {
	Host          string `json:",omitempty"`
	SkipTLSVerify bool
}

// dockerEndpointName is the context store's name for the Docker endpoint.
const dockerEndpointName = "docker"

// fromStore fills in the context's host and TLS material from the context
// store at dir.
func (e *Daemon) fromStore(dir string) error {
	s := store.New(dir, store.NewConfig(func() any { return &map[string]any{} },
		store.EndpointTypeGetter(dockerEndpointName, func() any { return &dockerEndpoint{} })))
	meta, err := s.GetMetadata(e.Context)
	if err != nil {
		return fmt.Errorf("not in the context store %s (docker context ls lists them): %w", dir, err)
	}
	de, ok := meta.Endpoints[dockerEndpointName].(dockerEndpoint)
	if !ok || de.Host == "" {
		return errors.New("the context has no docker endpoint")
	}
	e.Host = de.Host
	files, err := s.ListTLSFiles(e.Context)
	if err != nil {
		return fmt.Errorf("TLS material: %w", err)
	}
	pem := map[string][]byte{}
	for _, f := range files[dockerEndpointName] {
		if pem[f], err = s.GetTLSData(e.Context, dockerEndpointName, f); err != nil {
			return fmt.Errorf("TLS material %s: %w", f, err)
		}
	}
	if len(pem) == 0 && !de.SkipTLSVerify {
		return nil
	}
	var opts []func(*tls.Config)
	if ca := pem["ca.pem"]; ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return errors.New("TLS material: ca.pem holds no certificate")
		}
		opts = append(opts, func(c *tls.Config) { c.RootCAs = pool })
	}
	if cert, key := pem["cert.pem"], pem["key.pem"]; cert != nil && key != nil {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("TLS material cert.pem, key.pem: %w", err)
		}
		opts = append(opts, func(c *tls.Config) { c.Certificates = []tls.Certificate{pair} })
	}
	if de.SkipTLSVerify {
		opts = append(opts, func(c *tls.Config) { c.InsecureSkipVerify = true })
	}
	e.TLS = tlsconfig.ClientDefault(opts...)
	return nil
}

// clientOpts configures a Docker API client for the endpoint. An ssh://
// host needs a dialer of its own, which the Docker API client does not
// have: this is where it plugs in.
func (e Daemon) clientOpts() []client.Opt {
	if e.Source == FromDockerHost || e.Context == DefaultContext {
		// DOCKER_HOST with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, or
		// the default socket: as the docker CLI.
		return []client.Opt{client.FromEnv, client.WithHost(e.Host)}
	}
	var opts []client.Opt
	if e.TLS != nil {
		opts = append(opts, client.WithHTTPClient(&http.Client{
			Transport:     &http.Transport{TLSClientConfig: e.TLS},
			CheckRedirect: client.CheckRedirect,
		}))
	}
	return append(opts, client.WithHost(e.Host), client.WithVersionFromEnv())
}
