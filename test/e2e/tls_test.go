package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLS distribution: container nodes running `-proto_dist inet_tls` with
// certificates made by the test are reached over TLS by an admin node with
// `-proto_dist epmd_docker_tls` (every release) or `-proto_dist inet_tls
// -epmd_module epmd_docker` (OTP 24.2 on). The certificates are checked
// both ways: the container node's against its host name, the admin's
// against the CA, and an admin whose certificate another CA signed is
// refused.
func TestTLS(t *testing.T) {
	scenarioTLS(t, hostOTP)
}

// tlsFiles are a CA, certificates for a container node and an admin node
// signed by it, one for an admin signed by another CA, and an
// -ssl_dist_optfile for each node.
type tlsFiles struct {
	Dir       string
	NodeOpts  string // for the container node, whose certificate names Host
	AdminOpts string
	RogueOpts string // an admin whose certificate the node does not trust
}

func makeTLSFiles(t *testing.T, host string) tlsFiles {
	t.Helper()
	dir, err := os.MkdirTemp(driverDir, "tls-")
	if err != nil {
		t.Fatal(err)
	}
	// Containers read the files at the same path: let every user read them.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, caKey := newCert(t, dir, "ca", "epmd_docker test CA", nil, nil, nil)
	other, otherKey := newCert(t, dir, "other-ca", "another CA", nil, nil, nil)
	newCert(t, dir, "node", host, []string{host}, ca, caKey)
	newCert(t, dir, "admin", "admin", []string{"admin"}, ca, caKey)
	newCert(t, dir, "rogue", "admin", []string{"admin"}, other, otherKey)
	f := tlsFiles{Dir: dir}
	f.NodeOpts = writeOptFile(t, dir, "node", "ca")
	f.AdminOpts = writeOptFile(t, dir, "admin", "ca")
	f.RogueOpts = writeOptFile(t, dir, "rogue", "other-ca")
	return f
}

// newCert writes NAME.pem and NAME.key in dir: a CA when parent is nil,
// else a certificate for dnsNames signed by parent.
func newCert(t *testing.T, dir, name, cn string, dnsNames []string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     dnsNames,
	}
	if parent == nil {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	// SEC 1 ("EC PRIVATE KEY"), which every OTP release here reads.
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER)
	return cert, key
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeOptFile writes an -ssl_dist_optfile that presents NAME's certificate
// as server and client, trusts only CA's, and checks the peer both ways.
func writeOptFile(t *testing.T, dir, name, ca string) string {
	t.Helper()
	own := fmt.Sprintf("{certfile, %q}, {keyfile, %q}, {cacertfile, %q}, {verify, verify_peer}",
		filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"), filepath.Join(dir, ca+".pem"))
	text := fmt.Sprintf("[{server, [%s, {fail_if_no_peer_cert, true}]},\n {client, [%s]}].\n", own, own)
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func scenarioTLS(t *testing.T, o *otp) {
	// The node's certificate must name the host part of its node name, so
	// the hostname is chosen before the container starts.
	host := "tls-" + randHex(4)
	files := makeTLSFiles(t, host)
	mount := []string{"-v", files.Dir + ":" + files.Dir + ":ro"}
	c := o.startNode(t, nodeSpec{
		DockerArgs: append([]string{"--hostname", host}, mount...),
		Extra:      []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", files.NodeOpts},
	})

	variants := []struct {
		name  string
		flags []string
	}{{"proto_dist_epmd_docker_tls", []string{"-proto_dist", "epmd_docker_tls"}}}
	if o.selectsThroughEpmdModule() {
		variants = append(variants, struct {
			name  string
			flags []string
		}{"proto_dist_inet_tls", []string{"-proto_dist", "inet_tls"}})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			a := o.startAdmin(t, nil, mount, append(v.flags, "-ssl_dist_optfile", files.AdminOpts)...)
			if got := a.Connect(c.Node); got != "true" {
				t.Fatalf("connect_node(%s) = %s, want true\n%s", c.Node, got, a.Output())
			}
			if got := a.RPCNode(c.Node); got != atom(c.Node) {
				t.Errorf("rpc to %s: erlang:node() = %s", c.Node, got)
			}
			// #net_address{protocol = tls}
			got := a.Eval(fmt.Sprintf("case net_kernel:node_info('%s', address) of {ok, A} -> element(4, A); E -> E end", c.Node), 5*time.Second)
			if got != "tls" {
				t.Errorf("connection to %s: protocol = %s, want tls", c.Node, got)
			}
		})
	}

	t.Run("untrusted_admin_refused", func(t *testing.T) {
		a := o.startAdmin(t, nil, mount, "-proto_dist", "epmd_docker_tls", "-ssl_dist_optfile", files.RogueOpts)
		if got := a.Connect(c.Node); got != "false" {
			t.Fatalf("an admin with a certificate of another CA: connect_node(%s) = %s, want false", c.Node, got)
		}
	})
}
