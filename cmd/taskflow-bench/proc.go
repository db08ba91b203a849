package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resource readings from /proc (Linux only; elsewhere they read as zero).

// usage is what a monitor saw during one run. CPU figures are percent of
// one core, averaged over the run.
type usage struct {
	rssPeakMB float64 // server's peak resident set (0: no server)
	cpuServer float64
	cpuPG     float64 // Postgres: backends of the benchmark's database, and the shared auxiliary processes
	cpuRedis  float64 // every process named redis-server
	cpuSelf   float64 // this program: load generator (and in-process ceiling server)
	cpuOther  float64 // every other process (other databases' backends too): a busy neighbour makes the run suspect
}

type monitor struct {
	pid      int
	db       string
	start    time.Time
	startCPU cpuTicks
	hwmReset bool
	stopc    chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	rssMax   int64 // kB
}

type cpuTicks struct{ server, pg, redis, self, machine int64 }

const clockTicks = 100 // USER_HZ; 100 on every Linux that matters

func startMonitor(pid int, db string) *monitor {
	m := &monitor{pid: pid, db: db, stopc: make(chan struct{})}
	if pid > 0 {
		// Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current
		// RSS, so that VmHWM at the end is the peak of this run alone. It is
		// allowed on our own child; if refused, the samples below remain.
		m.hwmReset = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0) == nil
		m.rssMax, _ = procStatusKB(pid, "VmRSS:")
		m.wg.Add(1)
		go m.sample()
	}
	m.start = time.Now()
	m.startCPU = readCPU(pid, db)
	return m
}

func (m *monitor) sample() {
	defer m.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.stopc:
			return
		case <-t.C:
			if kb, err := procStatusKB(m.pid, "VmRSS:"); err == nil {
				m.mu.Lock()
				m.rssMax = max(m.rssMax, kb)
				m.mu.Unlock()
			}
		}
	}
}

func (m *monitor) stop() usage {
	end := readCPU(m.pid, m.db)
	secs := time.Since(m.start).Seconds()
	close(m.stopc)
	m.wg.Wait()
	pct := func(a, b int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(b-a) / clockTicks / secs * 100
	}
	u := usage{
		cpuServer: pct(m.startCPU.server, end.server),
		cpuPG:     pct(m.startCPU.pg, end.pg),
		cpuRedis:  pct(m.startCPU.redis, end.redis),
		cpuSelf:   pct(m.startCPU.self, end.self),
	}
	u.cpuPG = max(u.cpuPG, 0) // a backend that exited takes its ticks along
	u.cpuOther = max(pct(m.startCPU.machine, end.machine)-u.cpuServer-u.cpuPG-u.cpuRedis-u.cpuSelf, 0)
	if m.pid > 0 {
		peak := m.rssMax
		if m.hwmReset {
			if hwm, err := procStatusKB(m.pid, "VmHWM:"); err == nil {
				peak = max(peak, hwm)
			}
		}
		u.rssPeakMB = float64(peak) / 1024
	}
	return u
}

// procStatusKB reads one "Key:   123 kB" line of /proc/<pid>/status.
func procStatusKB(pid int, key string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := strings.Fields(string(rest))
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, os.ErrNotExist
}

// procTicks returns utime+stime of a process, in clock ticks.
func procTicks(statPath string) int64 {
	b, err := os.ReadFile(statPath)
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after its closing
	// parenthesis are fixed: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// readCPU reads the CPU time of the server, of this process, of Redis and
// of the Postgres processes that work for database db: its backends and
// the auxiliary processes every database shares (postmaster, WAL writer,
// checkpointer...). Backends of other databases are left to "other".
func readCPU(pid int, db string) cpuTicks {
	var c cpuTicks
	if pid > 0 {
		c.server = procTicks("/proc/" + strconv.Itoa(pid) + "/stat")
	}
	c.self = procTicks("/proc/self/stat")
	c.machine, _ = machineTicks()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(d + "/comm")
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(comm)) {
		case "postgres":
			if ourPostgres(d, db) {
				c.pg += procTicks(d + "/stat")
			}
		case "redis-server":
			c.redis += procTicks(d + "/stat")
		}
	}
	return c
}

// ourPostgres tells whether the postgres process in /proc dir d works for
// database db. A backend's command line names its database and its client
// ("postgres: 15/main: user db 127.0.0.1(5432) idle"); auxiliary
// processes name neither.
func ourPostgres(d, db string) bool {
	cmd, err := os.ReadFile(d + "/cmdline")
	if err != nil {
		return false
	}
	line := string(cmd)
	switch {
	case db != "" && strings.Contains(line, " "+db+" "):
		return true
	case strings.Contains(line, "(") || strings.Contains(line, "[local]") || strings.Contains(line, "autovacuum worker"):
		return false
	}
	return true
}

// machineTicks returns the busy and total clock ticks of all CPUs since
// boot, from the first line of /proc/stat.
func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal; guest is inside user
			total += n
			if i != 3 && i != 4 {
				busy += n
			}
		}
	}
	return busy, total
}

// waitQuiet waits, up to timeout, until the machine was less than
// maxBusy (a fraction of all CPUs) busy over half a second, so that a
// measurement does not start while a neighbour (or the previous run's
// clean-up) still burns CPU. It returns the last busy fraction seen.
func waitQuiet(timeout time.Duration, maxBusy float64) float64 {
	deadline := time.Now().Add(timeout)
	var frac float64
	for {
		b0, t0 := machineTicks()
		time.Sleep(500 * time.Millisecond)
		b1, t1 := machineTicks()
		if t1 <= t0 {
			return 0
		}
		frac = float64(b1-b0) / float64(t1-t0)
		if frac < maxBusy || !time.Now().Before(deadline) {
			return frac
		}
	}
}

// waitProcessIdle waits, up to timeout, until process pid used less than a
// tenth of a core over half a second: a server still working off requests
// whose clients have gone (fasthttp finishes a handler even when its
// client has hung up) must not run into the next measurement.
func waitProcessIdle(pid int, timeout time.Duration) {
	stat := "/proc/" + strconv.Itoa(pid) + "/stat"
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		t0 := procTicks(stat)
		time.Sleep(500 * time.Millisecond)
		if procTicks(stat)-t0 < clockTicks/20 {
			return
		}
	}
}
