package main

import (
	"os"
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
