package main

import (
	"os"
	"syscall"
	"unsafe"
)

// hideArg overwrites s in this process's argv, where other users can read
// it in /proc/PID/cmdline (ps), with x's. The Go runtime builds os.Args
// over argv without copying it, so s, a flag's value, shares that memory;
// when it does not (Go changed, or s came from elsewhere), nothing
// happens. The caller must have copied s before: its bytes change.
func hideArg(s string) {
	if s == "" {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	for _, a := range os.Args {
		if a == "" {
			continue
		}
		start := uintptr(unsafe.Pointer(unsafe.StringData(a)))
		if p >= start && p+uintptr(len(s)) <= start+uintptr(len(a)) {
			b := unsafe.Slice(unsafe.StringData(s), len(s))
			for i := range b {
				b[i] = 'x'
			}
			return
		}
	}
}

// removeOnceRead calls gone as soon as a process has opened file and
// closed it again without writing (inotify IN_CLOSE_NOWRITE): erl reads
// its cookie file once, at boot, so that the cookie is on disk for as
// long as that takes rather than for as long as the shell runs. stop ends
// the watch. If the watch cannot be set up, gone is left to the caller.
func removeOnceRead(file string, gone func()) (stop func()) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return func() {}
	}
	if _, err := syscall.InotifyAddWatch(fd, file, syscall.IN_CLOSE_NOWRITE); err != nil {
		syscall.Close(fd)
		return func() {}
	}
	// Non-blocking, so that the runtime's poller serves reads and Close
	// ends one that waits.
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		buf := make([]byte, 4096)
		if n, err := f.Read(buf); err == nil && n >= syscall.SizeofInotifyEvent {
			gone()
		}
	}()
	return func() { f.Close() }
}
