package ssh

import "syscall"

// masterAttr runs the master in a session of its own, so that a
// terminal's signals reach ssh only through us, and ends it with this
// process (Linux's parent-death signal).
func masterAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
}
