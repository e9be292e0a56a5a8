package soak

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcStats is what the relay process uses at one moment.
type ProcStats struct {
	Pid        int // a relay SIGKILLed and restarted is another process
	Goroutines int
	OpenFiles  int
	RSS        int64 // bytes
}

func (p ProcStats) String() string {
	return fmt.Sprintf("pid %d: goroutines %d, open files %d, RSS %.1f MiB", p.Pid, p.Goroutines, p.OpenFiles, float64(p.RSS)/(1<<20))
}

// ReadProcStats reads pid's open files and RSS from /proc and its
// goroutines from the relay's /metrics at metricsURL.
func ReadProcStats(pid int, metricsURL string) ProcStats {
	p := ProcStats{Pid: pid}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.OpenFiles = len(ents)
	}
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
				p.RSS = kb << 10
			}
		}
		f.Close()
	}
	c := http.Client{Timeout: 5 * time.Second}
	if resp, err := c.Get(metricsURL); err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
				p.Goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	return p
}

// FaultResult is one injected fault and whether everything carried again.
type FaultResult struct {
	Name     string
	Survived bool
	Back     time.Duration // from the end of the fault to every forward carrying again
}

// Report is the soak's outcome.
type Report struct {
	Duration           time.Duration
	Loads              map[string]*Counters // by forward
	Faults             []FaultResult
	Resumes            int // relay log: streams re-attached
	ResumeExpired      int // relay log: streams whose client did not come back in time
	Reconnects         int // new SSH sessions after a lost one (native and page)
	Start, Middle, End ProcStats
}

// Write prints the report for people.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "soak: %v\n", r.Duration.Round(time.Second))
	var all Counters
	for name, c := range r.Loads {
		fmt.Fprintf(w, "  %-28s %8.1f MiB  short %6d  long %4d  not started %5d  lost %4d (long %d)  corrupt %d\n",
			name, float64(c.Bytes.Load())/(1<<20), c.Short.Load(), c.Long.Load(), c.NotStarted.Load(), c.Lost.Load(), c.LongLost.Load(), c.Corrupt.Load())
		all.add(c)
	}
	fmt.Fprintf(w, "  bytes moved %.1f MiB; connections: %d short, %d long completed, %d lost, %d not started (outages), %d corrupt\n",
		float64(all.Bytes.Load())/(1<<20), all.Short.Load(), all.Long.Load(), all.Lost.Load(), all.NotStarted.Load(), all.Corrupt.Load())
	survived := 0
	byName := map[string][2]int{}
	for _, f := range r.Faults {
		n := byName[f.Name]
		n[0]++
		if f.Survived {
			survived++
			n[1]++
		}
		byName[f.Name] = n
	}
	fmt.Fprintf(w, "  faults injected %d, survived %d:", len(r.Faults), survived)
	for name, n := range byName {
		fmt.Fprintf(w, " %s %d/%d;", name, n[1], n[0])
	}
	fmt.Fprintln(w)
	for _, f := range r.Faults {
		fmt.Fprintf(w, "    %-26s survived=%-5v carrying again after %v\n", f.Name, f.Survived, f.Back.Round(10*time.Millisecond))
	}
	fmt.Fprintf(w, "  resumes %d (expired %d), reconnects %d\n", r.Resumes, r.ResumeExpired, r.Reconnects)
	fmt.Fprintf(w, "  relay at start:  %v\n  relay at middle: %v\n  relay at end:    %v\n", r.Start, r.Middle, r.End)
}
