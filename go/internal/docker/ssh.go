package docker

import (
	"fmt"

	"github.com/docker/docker/client"

	"github.com/epmd-docker/epmd_docker/go/internal/ssh"
)

// sshOpts are the client options for a daemon reached over SSH
// (host ssh://[user@]host[:port]), as the docker CLI makes them: the API
// through `docker system dial-stdio` on the server, over the connection
// that conn keeps. For any other host they are nil, and so is conn.
func sshOpts(host string) (opts []client.Opt, conn *ssh.Conn, err error) {
	if !ssh.IsSSH(host) {
		return nil, nil, nil
	}
	conn, err = ssh.New(host)
	if err != nil {
		return nil, nil, fmt.Errorf("docker client: %w", err)
	}
	return []client.Opt{client.WithHost(conn.HTTPHost()), client.WithDialContext(conn.DialAPI)}, conn, nil
}

// SSH is the SSH connection the daemon is reached through, which also
// carries the tunnels to its containers; nil unless the host is ssh://.
func (c *Client) SSH() *ssh.Conn {
	return c.ssh
}

// explainSSH says which step of an API call over SSH failed (ssh, the
// docker CLI on the server, the daemon there), when the error tells;
// else nil.
func (c *Client) explainSSH(op string, err error) error {
	if c.ssh == nil {
		return nil
	}
	if e := c.ssh.Explain(err); e != nil {
		return fmt.Errorf("%s: %w", op, e)
	}
	return nil
}
