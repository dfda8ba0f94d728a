package ssh

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// sameUser refuses a loopback connection from another user: a tunnel
// reaches what the SSH login reaches on the server, which is this user's
// to use, not every local user's. Linux lists the owner of each TCP
// socket in /proc/net/tcp; the peer's socket is the one whose local
// address is conn's remote address.
func sameUser(conn net.Conn) error {
	peer, ok := conn.RemoteAddr().(*net.TCPAddr)
	if !ok || peer.IP.To4() == nil {
		return fmt.Errorf("peer %v: not IPv4", conn.RemoteAddr())
	}
	me, ok := conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("local %v: not TCP", conn.LocalAddr())
	}
	want := procAddr(peer)
	wantRem := procAddr(me)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return fmt.Errorf("cannot tell who connected: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[1] != want || fs[2] != wantRem {
			continue
		}
		uid, err := strconv.Atoi(fs[7])
		if err != nil {
			break
		}
		if uid != os.Getuid() {
			return fmt.Errorf("connection from uid %d, not %d", uid, os.Getuid())
		}
		return nil
	}
	return fmt.Errorf("cannot tell who connected from %v", peer)
}

// procAddr is an address as /proc/net/tcp writes it: the IPv4 address as
// a little-endian hex word, a colon, the port in hex.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}
