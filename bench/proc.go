package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clkTck is USER_HZ, fixed at 100 on every Linux ABI Go supports.
const clkTck = 100

// Proc is a child process started by the bench, stopped by its context or Stop.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *tailBuffer
	done chan struct{}
	err  error
}

// startProc starts name with args, its output kept (the tail) for error messages.
func startProc(ctx context.Context, name string, argv []string, env []string) (*Proc, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	tb := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = tb, tb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, log: tb, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output is the tail of the process's stdout and stderr.
func (p *Proc) Output() string { return strings.TrimSpace(p.log.String()) }

// Stop ends the process group: SIGTERM, then SIGKILL after a grace period.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// Failure describes why a process is no use, with its output.
func (p *Proc) Failure(what string) error {
	out := p.Output()
	if len(out) > 2000 {
		out = "..." + out[len(out)-2000:]
	}
	if p.Exited() {
		return fmt.Errorf("%s: %s exited (%v): %s", what, p.Name, p.err, out)
	}
	return fmt.Errorf("%s: %s: %s", what, p.Name, out)
}

// waitOutput waits until the process prints something matching match, or fails.
func (p *Proc) waitOutput(ctx context.Context, match func(string) bool, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if out := p.log.String(); match(out) {
			return out, nil
		}
		if p.Exited() {
			return "", p.Failure("waiting for output")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", p.Failure(fmt.Sprintf("no expected output within %v", timeout))
}

// tailBuffer keeps the first and the last bytes written to it.
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	head []byte
	buf  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.head) < t.max/2 {
		n := min(t.max/2-len(t.head), len(p))
		t.head = append(t.head, p[:n]...)
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == len(t.head) {
		return string(t.buf)
	}
	return string(t.head) + "\n...\n" + string(t.buf)
}

// procStat is one line of /proc/PID/stat, the fields the bench uses.
type procStat struct {
	pid, ppid int
	ticks     int64 // utime+stime+cutime+cstime: own and reaped children's CPU
	rssPages  int64
}

func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field N is f[N-3].
	if len(f) < 22 {
		return procStat{}, false
	}
	num := func(n int) int64 { v, _ := strconv.ParseInt(f[n-3], 10, 64); return v }
	return procStat{
		pid:      pid,
		ppid:     int(num(4)),
		ticks:    num(14) + num(15) + num(16) + num(17),
		rssPages: num(24),
	}, true
}

// allStats reads every process on the machine.
func allStats() map[int]procStat {
	ents, _ := os.ReadDir("/proc")
	m := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, ok := readStat(pid); ok {
			m[pid] = s
		}
	}
	return m
}

// tree returns roots and all their descendants.
func tree(all map[int]procStat, roots []int) []int {
	children := map[int][]int{}
	for _, s := range all {
		children[s.ppid] = append(children[s.ppid], s.pid)
	}
	var out []int
	seen := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		if _, ok := all[pid]; ok {
			out = append(out, pid)
		}
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}

// cpuMeter measures the CPU time of process trees between Start and Stop.
// Children that exit and are reaped in between are counted through their
// parent's cutime/cstime.
type cpuMeter struct {
	roots  []int
	before map[int]int64
}

func newCPUMeter(roots ...int) *cpuMeter { return &cpuMeter{roots: roots} }

func (m *cpuMeter) snapshot() map[int]int64 {
	all := allStats()
	s := map[int]int64{}
	for _, pid := range tree(all, m.roots) {
		s[pid] = all[pid].ticks
	}
	return s
}

func (m *cpuMeter) Start() { m.before = m.snapshot() }

// Seconds returns the CPU seconds used since Start.
func (m *cpuMeter) Seconds() float64 {
	after := m.snapshot()
	var d int64
	for _, t := range after {
		d += t
	}
	for _, t := range m.before {
		d -= t
	}
	return float64(d) / clkTck
}

// rssBytes is the resident set of one process.
func rssBytes(pid int) int64 {
	s, ok := readStat(pid)
	if !ok {
		return 0
	}
	return s.rssPages * int64(os.Getpagesize())
}

// pssTreeBytes sums the proportional set size of a process tree: forked
// children share pages, so their RSS would count the shared ones many times.
func pssTreeBytes(root int) int64 {
	var total int64
	for _, pid := range tree(allStats(), []int{root}) {
		total += pssBytes(pid)
	}
	return total
}

func pssBytes(pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
