package harness

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcSample is one reading of a process's CPU time and memory.
type ProcSample struct {
	At      time.Time
	CPU     time.Duration // user + system
	RSS     int64         // bytes
	PeakRSS int64         // bytes, VmHWM; 0 when unknown
}

// ErrNoProc means the process's /proc entries cannot be read.
var ErrNoProc = errors.New("no /proc entry")

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	cpu, err := ProcCPU(pid)
	if err != nil {
		return s, err
	}
	s.CPU = cpu
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("pid %d: %w: %v", pid, ErrNoProc, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("pid %d: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.PeakRSS = kb << 10
		}
	}
	return s, nil
}

// ProcCPU returns the CPU time (user + system) the process pid has used,
// from /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w: %v", pid, ErrNoProc, err)
	}
	ticks, err := statTicks(stat)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / time.Duration(ClockTicks()), nil
}

// statTicks returns utime + stime, in clock ticks, of a /proc/<pid>/stat.
func statTicks(stat []byte) (int64, error) {
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields counted after it start with the state (field 3).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return utime + stime, nil
}

var (
	clkTckOnce sync.Once
	clkTck     int64
)

// ClockTicks returns the kernel's USER_HZ, the unit of /proc's CPU times,
// from the auxiliary vector (AT_CLKTCK), which is what
// sysconf(_SC_CLK_TCK) returns; 100 if unknown.
func ClockTicks() int64 {
	clkTckOnce.Do(func() {
		clkTck = 100
		b, err := os.ReadFile("/proc/self/auxv")
		if err != nil {
			return
		}
		const atClkTck = 17
		for i := 0; i+16 <= len(b); i += 16 {
			k := binary.NativeEndian.Uint64(b[i:])
			v := binary.NativeEndian.Uint64(b[i+8:])
			if k == atClkTck && v > 0 {
				clkTck = int64(v)
				return
			}
		}
	})
	return clkTck
}
