package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds returns the user plus system CPU time pid has used so far.
func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading cpu time: %w", err)
	}
	return parseStatCPU(raw)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from the contents
// of /proc/<pid>/stat. The command name (field 2) may contain spaces, so
// fields are counted from the last ')'.
func parseStatCPU(raw []byte) (float64, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line %q", raw)
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line %q", raw)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed utime/stime in %q", raw)
	}
	return float64(u+s) / clockTicks, nil
}

// statusKiB returns a "Vm..." field of /proc/<pid>/status in KiB.
func statusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", field, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s %q: %w", field, v, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s not found in /proc/%d/status", field, pid)
}

// rssSampler records the highest VmRSS of a process, read every interval,
// between its start and its stop.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done sync.WaitGroup
	peak int64 // KiB, written by the sampling goroutine until done
}

// sampleInterval is how often the resident set size is read.
const sampleInterval = 50 * time.Millisecond

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{})}
	s.read()
	s.done.Add(1)
	go s.loop()
	return s
}

func (s *rssSampler) loop() {
	defer s.done.Done()
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.read()
		}
	}
}

func (s *rssSampler) read() {
	if kib, err := statusKiB(s.pid, "VmRSS"); err == nil {
		s.peak = max(s.peak, kib)
	}
}

// Stop ends sampling and returns the peak in MiB (after one last read).
func (s *rssSampler) Stop() float64 {
	close(s.stop)
	s.done.Wait()
	s.read()
	return float64(s.peak) / 1024
}

// machineTimes is the machine's CPU time so far, from the "cpu" line of
// /proc/stat, in clock ticks: all of it, and the part spent idle or
// waiting for I/O.
type machineTimes struct{ total, idle uint64 }

// readMachineTimes reads the machine's CPU times from /proc/stat.
func readMachineTimes() (machineTimes, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}, fmt.Errorf("reading machine cpu time: %w", err)
	}
	return parseMachineTimes(raw)
}

// parseMachineTimes reads the first line of /proc/stat: "cpu" then user,
// nice, system, idle, iowait, irq, softirq, steal, guest and guest_nice.
// Guest time is already counted in user and nice, so it is left out.
func parseMachineTimes(raw []byte) (machineTimes, error) {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return machineTimes{}, fmt.Errorf("malformed /proc/stat line %q", line)
	}
	var t machineTimes
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return machineTimes{}, fmt.Errorf("malformed /proc/stat line %q: %w", line, err)
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t, nil
}

// busyShare is the share of the machine's CPU time between a and b that
// was not idle, or -1 when no time passed.
func busyShare(a, b machineTimes) float64 {
	if b.total <= a.total {
		return -1
	}
	return 1 - float64(b.idle-a.idle)/float64(b.total-a.total)
}
