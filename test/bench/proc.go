package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// procMem is a process's resident memory now and at its peak, in bytes,
// from /proc/PID/status.
func procMem(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			peak = n * 1024
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return rss, peak, nil
}

// procCPU is the CPU time a process has used (user and system, all its
// threads), from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and
	// 15 of the line, so 12 and 13 after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(u+st) * time.Second / clockTicks, nil
}

// usage is what a process did over a stretch of time.
type usage struct {
	cpu      float64 // percent of one core
	rss, hwm int64   // resident memory at the end, and the peak so far
}

// watchProc samples pid until stop is closed: CPU over the whole stretch,
// resident memory at the end and its peak (VmHWM).
func watchProc(pid int, stop <-chan struct{}) (usage, error) {
	c0, err := procCPU(pid)
	if err != nil {
		return usage{}, err
	}
	t0 := time.Now()
	<-stop
	c1, err := procCPU(pid)
	if err != nil {
		return usage{}, err
	}
	wall := time.Since(t0)
	rss, hwm, err := procMem(pid)
	if err != nil {
		return usage{}, err
	}
	return usage{cpu: 100 * float64(c1-c0) / float64(wall), rss: rss, hwm: hwm}, nil
}

func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
