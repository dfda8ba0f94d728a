//go:build !linux

package ssh

import "syscall"

// masterAttr runs the master in a session of its own, so that a
// terminal's signals reach ssh only through us. Without a parent-death
// signal, Close ends it.
func masterAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
