package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Figure is a measurement that is not a throughput/RTT case: memory per idle
// stream, streams per second, .wasm size, the page's heap.
type Figure struct {
	Name   string    `json:"name"`
	Label  string    `json:"label"`
	Unit   string    `json:"unit"`
	Values []float64 `json:"values,omitempty"` // one per run
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	Peer   string    `json:"peer,omitempty"` // figure this one is divided by
	Ratio  float64   `json:"ratio_to_peer,omitempty"`
	Note   string    `json:"note,omitempty"`
}

func (f Figure) median() float64 { return median(f.Values, func(v float64) float64 { return v }) }

func figureNA(name, label, unit string, err error) Figure {
	f := Figure{Name: name, Label: label, Unit: unit, Status: statusError, Reason: err.Error()}
	if isNA(err) {
		f.Status = statusNA
	}
	return f
}

// Target is one goal from the issue, checked on this run's medians.
type Target struct {
	Label  string  `json:"label"`
	Value  float64 `json:"value"`
	Op     string  `json:"op"` // ">=" or "<="
	Limit  float64 `json:"limit"`
	Unit   string  `json:"unit,omitempty"`
	Status string  `json:"status"` // PASS, MISS, n/a
	Reason string  `json:"reason,omitempty"`
}

// Report is the whole bench run.
type Report struct {
	Date     time.Time    `json:"date"`
	Machine  Machine      `json:"machine"`
	Mode     Mode         `json:"mode"`
	Elapsed  float64      `json:"elapsed_s"`
	Cases    []CaseResult `json:"cases"`
	Ratios   []Ratio      `json:"ratios"`
	Figures  []Figure     `json:"figures"`
	Targets  []Target     `json:"targets"`
	Profiles []Profile    `json:"profiles,omitempty"`
}

// Ratio is a case's medians divided by its peer's, from the same bench run.
type Ratio struct {
	Case      string  `json:"case"`
	Peer      string  `json:"peer"`
	MBps      float64 `json:"mbps"`
	CPUPerGiB float64 `json:"cpu_s_per_gib,omitempty"`
	RTTp50    float64 `json:"rtt_p50"`
}

type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Commit   string `json:"commit"`
	FileMax  uint64 `json:"open_files_limit"`
	Chromium string `json:"chromium,omitempty"`
	LoadAvg  string `json:"loadavg_start"` // 1, 5, 15 minutes: other work on the machine skews every figure
	LoadEnd  string `json:"loadavg_end"`
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func newReport(e *Env) *Report {
	r := &Report{Date: time.Now().UTC(), Mode: e.Mode}
	r.Machine = Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), FileMax: fileLimit(), LoadAvg: loadAvg(), Chromium: chromiumVersion()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				r.Machine.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Machine.Kernel = strings.TrimSpace(string(b))
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = e.Root
	if b, err := cmd.Output(); err == nil {
		r.Machine.Commit = strings.TrimSpace(string(b))
	}
	return r
}

func (r *Report) caseByName(name string) *CaseResult {
	for i := range r.Cases {
		if r.Cases[i].Name == name && r.Cases[i].Status == statusOK {
			return &r.Cases[i]
		}
	}
	return nil
}

func (r *Report) figureByName(name string) *Figure {
	for i := range r.Figures {
		if r.Figures[i].Name == name && r.Figures[i].Status == statusOK {
			return &r.Figures[i]
		}
	}
	return nil
}

func mbps(s runSample) float64   { return s.MBps }
func cpuGiB(s runSample) float64 { return s.CPUPerGiB }
func p50(s runSample) float64    { return s.RTTp50 }
func p99(s runSample) float64    { return s.RTTp99 }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// finish computes ratios to peers and checks the targets.
func (r *Report) finish(e *Env) {
	r.Elapsed = time.Since(e.Start).Seconds()
	r.Machine.LoadEnd = loadAvg()
	for _, c := range r.Cases {
		if c.Status != statusOK || c.Peer == "" {
			continue
		}
		p := r.caseByName(c.Peer)
		if p == nil {
			continue
		}
		r.Ratios = append(r.Ratios, Ratio{
			Case: c.Name, Peer: p.Name,
			MBps:      ratio(median(c.Runs, mbps), median(p.Runs, mbps)),
			CPUPerGiB: ratio(median(c.Runs, cpuGiB), median(p.Runs, cpuGiB)),
			RTTp50:    ratio(median(c.Runs, p50), median(p.Runs, p50)),
		})
	}
	for i := range r.Figures {
		f := &r.Figures[i]
		if f.Status != statusOK || f.Peer == "" {
			continue
		}
		if p := r.figureByName(f.Peer); p != nil {
			f.Ratio = ratio(f.median(), p.median())
		}
	}
	r.addTargets(e)
}

// addTargets judges the figures against the targets of the issues that
// set them, PASS or MISS, or n/a with the reason.
func (r *Report) addTargets(e *Env) {
	caseRatio := func(label, a, b string, fig func(runSample) float64, op string, limit float64) {
		t := Target{Label: label, Op: op, Limit: limit, Unit: "x"}
		ca, cb := r.caseByName(a), r.caseByName(b)
		switch {
		case ca == nil:
			t.Status, t.Reason = statusNA, a+" did not run"
		case cb == nil:
			t.Status, t.Reason = statusNA, b+" did not run"
		default:
			t.Value = ratio(median(ca.Runs, fig), median(cb.Runs, fig))
			t.Status = verdict(t.Value, op, limit)
		}
		r.Targets = append(r.Targets, t)
	}
	caseRatio("relay dial bridge MB/s / websockify", "relay-dial", "websockify", mbps, ">=", 1.5)

	// Added round trip: what the bridge adds on top of plain TCP, from the
	// interleaved measurement when it ran, else from the cases.
	t := Target{Label: "relay added RTT p50 / websockify's", Op: "<=", Limit: 1.0, Unit: "x"}
	d, rl, ws := r.caseByName("direct"), r.caseByName("relay-dial"), r.caseByName("websockify")
	switch f := r.figureByName("relay-added-rtt"); {
	case f != nil && f.Ratio > 0:
		t.Value = f.Ratio
		t.Status = verdict(t.Value, "<=", 1.0)
	case d == nil || rl == nil || ws == nil:
		t.Status, t.Reason = statusNA, "needs the rtt figure, or direct, relay-dial and websockify"
	default:
		base := median(d.Runs, p50)
		t.Value = ratio(median(rl.Runs, p50)-base, median(ws.Runs, p50)-base)
		t.Status = verdict(t.Value, "<=", 1.0)
	}
	r.Targets = append(r.Targets, t)

	caseRatio("tunnelkit ssh -L via relay / OpenSSH -L (MB/s)", "tunnelkit-L-relay", "openssh-L", mbps, ">=", 0.8)
	caseRatio("browser -L RTT p50 / OpenSSH -L", "browser-L", "openssh-L", p50, "<=", 2)
	caseRatio("browser -R RTT p50 / OpenSSH -R", "browser-R", "openssh-R", p50, "<=", 2)
	t = Target{Label: "browser openTCP RTT p50 / OpenSSH -L", Op: "<=", Limit: 2, Unit: "x"}
	switch f, o := r.figureByName("browser-opentcp-rtt"), r.caseByName("openssh-L"); {
	case f == nil || f.Status != statusOK:
		t.Status, t.Reason = statusNA, "browser-opentcp-rtt not measured"
	case o == nil:
		t.Status, t.Reason = statusNA, "openssh-L did not run"
	default:
		t.Value = ratio(f.median(), median(o.Runs, p50))
		t.Status = verdict(t.Value, "<=", 2)
	}
	r.Targets = append(r.Targets, t)
	caseRatio("OpenSSH -L via tunnelkit proxy / OpenSSH -L (MB/s)", "openssh-L-proxy", "openssh-L", mbps, ">=", 0.9)
	caseRatio("tunnelkit ssh -L via relay RTT p50 / OpenSSH -L", "tunnelkit-L-relay", "openssh-L", p50, "<=", 1.3)
	caseRatio("browser -L / OpenSSH -L (MB/s)", "browser-L", "openssh-L", mbps, ">=", 0.2)
	caseRatio("browser -L exit->entry / OpenSSH -L (MB/s)", "browser-L-down", "openssh-L", mbps, ">=", 0.2)

	figTarget := func(label, name string, scale float64, op string, limit float64, unit string) {
		t := Target{Label: label, Op: op, Limit: limit, Unit: unit}
		if f := r.figureByName(name); f == nil {
			t.Status, t.Reason = statusNA, name+" not measured"
		} else {
			t.Value = f.median() * scale
			t.Status = verdict(t.Value, op, limit)
		}
		r.Targets = append(r.Targets, t)
	}
	figTarget("relay memory per idle stream", "relay-idle-mem", 1, "<=", 48, "KiB")
	figTarget(".wasm on the wire (smallest encoding)", "wasm-wire", 1, "<=", 2, "MB")
	figTarget("page load to connected, cold (cache off)", "page-connected", 1, "<=", 500, "ms")
	figTarget("page load to connected, warm (second visit)", "page-connected-warm", 1, "<=", 250, "ms")
	figTarget("make run, nothing changed, to the demo answering", "make-run-noop", 1, "<=", 3, "s")
	figTarget("page JS heap after >= "+sizeLabel(e.Mode.HeapBytes)+" through the page", "browser-heap", 1, "<=", 256, "MB")
}

func verdict(v float64, op string, limit float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "MISS"
	}
	if (op == ">=" && v >= limit) || (op == "<=" && v <= limit) {
		return "PASS"
	}
	return "MISS"
}

func sizeLabel(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// Print writes the human-readable table.
func (r *Report) Print(w io.Writer) {
	mode := "full"
	if r.Mode.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "\ntunnelkit bench (%s), %s, %d CPUs, %s, %s, commit %s, %.0fs\n",
		mode, r.Date.Format("2006-01-02 15:04 UTC"), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Go, r.Machine.Commit, r.Elapsed)
	fmt.Fprintf(w, "load average %s at start, %s at end; %s\n", r.Machine.LoadAvg, r.Machine.LoadEnd, r.Machine.Chromium)
	fmt.Fprintf(w, "median [min-max] of %d run(s); throughput %s native, %s browser; %d round trips of 64 B\n\n",
		r.Mode.Runs, sizeLabel(r.Mode.NativeBytes), sizeLabel(r.Mode.BrowserBytes), r.Mode.RTTRounds)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tMB/s\tCPU s/GiB\tRTT p50 µs\tRTT p99 µs\t| vs peer: MB/s\tCPU\tp50\tpeer")
	var notRun []string
	for _, c := range r.Cases {
		if c.Status != statusOK {
			notRun = append(notRun, fmt.Sprintf("  %s: %s: %s", c.Label, c.Status, oneLine(c.Reason, 160)))
			continue
		}
		row := []string{c.Label,
			cell(c.Runs, mbps, "%.0f"), cell(c.Runs, cpuGiB, "%.2f"), cell(c.Runs, p50, "%.0f"), cell(c.Runs, p99, "%.0f")}
		var rat *Ratio
		for i := range r.Ratios {
			if r.Ratios[i].Case == c.Name {
				rat = &r.Ratios[i]
			}
		}
		if rat != nil {
			cpu := "-"
			if rat.CPUPerGiB != 0 {
				cpu = fmt.Sprintf("%.2f", rat.CPUPerGiB)
			}
			row = append(row, "| "+fmt.Sprintf("%.2f", rat.MBps), cpu, fmt.Sprintf("%.2f", rat.RTTp50), rat.Peer)
		} else {
			row = append(row, "|", "", "", "")
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	if len(notRun) > 0 {
		fmt.Fprintln(w, "not run:")
		for _, l := range notRun {
			fmt.Fprintln(w, l)
		}
	}

	if len(r.Figures) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "figure\tvalue\tvs peer\tnote")
		for _, f := range r.Figures {
			if f.Status != statusOK {
				fmt.Fprintf(tw, "%s\t%s: %s\t\t\n", f.Label, f.Status, oneLine(f.Reason, 100))
				continue
			}
			v := fmt.Sprintf("%.4g %s", f.median(), f.Unit)
			if len(f.Values) > 1 {
				lo, hi := spread(f.Values, func(v float64) float64 { return v })
				v += fmt.Sprintf(" [%.4g-%.4g]", lo, hi)
			}
			rat := ""
			if f.Ratio != 0 {
				rat = fmt.Sprintf("%.3g x %s", f.Ratio, f.Peer)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Label, v, rat, f.Note)
		}
		tw.Flush()
	}

	for _, p := range r.Profiles {
		fmt.Fprintf(w, "\nprofile: %s (%s)\n", p.Name, p.Load)
		if p.Err != "" {
			fmt.Fprintf(w, "  failed: %s\n", p.Err)
			continue
		}
		if p.AllocFile == "" {
			fmt.Fprintf(w, "  %s\n%s", p.CPUFile, p.TopCPU)
			continue
		}
		fmt.Fprintf(w, "  %s\n  %s\n", p.CPUFile, p.AllocFile)
		fmt.Fprintf(w, "CPU:\n%s\nalloc_space:\n%s", pprofBody(p.TopCPU), pprofBody(p.TopAllocs))
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tvalue\tgoal\tresult")
	for _, t := range r.Targets {
		if t.Status == statusNA {
			fmt.Fprintf(tw, "%s\t-\t%s %g %s\tn/a: %s\n", t.Label, t.Op, t.Limit, t.Unit, t.Reason)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3g %s\t%s %g %s\t%s\n", t.Label, t.Value, t.Unit, t.Op, t.Limit, t.Unit, t.Status)
	}
	tw.Flush()
}

func cell(runs []runSample, f func(runSample) float64, format string) string {
	m := median(runs, f)
	if m == 0 {
		return "-"
	}
	s := fmt.Sprintf(format, m)
	if len(runs) > 1 {
		lo, hi := spread(runs, f)
		s += fmt.Sprintf(" ["+format+"-"+format+"]", lo, hi)
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
}

// Save writes the report as JSON into dir, with a timestamped name and as latest.json.
func (r *Report) Save(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	kind := "full"
	if r.Mode.Quick {
		kind = "quick"
	}
	path := filepath.Join(dir, fmt.Sprintf("bench-%s-%s.json", kind, r.Date.Format("20060102-150405")))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", err
	}
	os.WriteFile(filepath.Join(dir, "latest-"+kind+".json"), b, 0o644)
	return path, nil
}

// Err is non-nil under CI when any case or figure did not run and pass.
// Targets never fail the bench: speed on a shared machine is not a verdict.
func (r *Report) Err() error {
	if !r.Mode.CI {
		return nil
	}
	var errs []error
	for _, c := range r.Cases {
		if c.Status != statusOK {
			errs = append(errs, fmt.Errorf("case %s: %s: %s", c.Name, c.Status, c.Reason))
		}
	}
	for _, f := range r.Figures {
		if f.Status != statusOK {
			errs = append(errs, fmt.Errorf("figure %s: %s: %s", f.Name, f.Status, f.Reason))
		}
	}
	return errors.Join(errs...)
}

// pprofBody drops pprof's file/type header lines, keeping the totals and the table.
func pprofBody(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") ||
			strings.HasPrefix(l, "Build ID:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
