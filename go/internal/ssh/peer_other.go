//go:build !linux

package ssh

import "net"

// sameUser cannot tell a loopback peer's user on this system: every local
// user may use the tunnels (see the README's security notes).
func sameUser(net.Conn) error { return nil }
