package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"
)

// Case is one way of carrying bytes from the bench to the sink and echo server.
type Case struct {
	Name    string // stable id, used in JSON and as a peer reference
	Label   string // table row
	Peer    string // case whose figures this one is divided by
	Browser bool   // browser sizes
	Setup   func(ctx context.Context, e *Env) (*Path, error)
}

// CaseResult is every run of one case.
type CaseResult struct {
	Name   string      `json:"name"`
	Label  string      `json:"label"`
	Peer   string      `json:"peer,omitempty"`
	Status string      `json:"status"` // ok, n/a, error
	Reason string      `json:"reason,omitempty"`
	Bytes  int64       `json:"bytes_per_run"`
	Runs   []runSample `json:"runs,omitempty"`
}

const (
	statusOK    = "ok"
	statusNA    = "n/a"
	statusError = "error"
)

func runCase(ctx context.Context, e *Env, c Case) CaseResult {
	r := CaseResult{Name: c.Name, Label: c.Label, Peer: c.Peer, Bytes: e.Mode.NativeBytes}
	if c.Browser {
		r.Bytes = e.Mode.BrowserBytes
	}
	fail := func(err error) CaseResult {
		r.Status, r.Reason = statusError, err.Error()
		if isNA(err) {
			r.Status = statusNA
		}
		log.Printf("%-28s %s: %s", c.Label, r.Status, r.Reason)
		return r
	}
	if e.left() < 15*time.Second {
		return fail(na("out of time (bench budget %v)", e.Mode.Budget))
	}
	start := time.Now()
	p, err := c.Setup(ctx, e)
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	for i := range e.Mode.Runs {
		var s runSample
		if s.MBps, s.CPUPerGiB, err = measureThroughput(ctx, e, p, r.Bytes); err != nil {
			return fail(fmt.Errorf("run %d, throughput: %w%s", i+1, err, diagnose(p)))
		}
		if s.RTTp50, s.RTTp99, err = measureRTT(ctx, e, p, e.Mode.RTTRounds); err != nil {
			return fail(fmt.Errorf("run %d, round trips: %w%s", i+1, err, diagnose(p)))
		}
		r.Runs = append(r.Runs, s)
		if i+1 < e.Mode.Runs && e.left() < 30*time.Second {
			log.Printf("%-28s stopping after %d runs: bench budget nearly spent", c.Label, i+1)
			break
		}
	}
	r.Status = statusOK
	m := median(r.Runs, func(s runSample) float64 { return s.MBps })
	log.Printf("%-28s %8.1f MB/s  p50 %7.1f µs  (%d runs, %.1fs)", c.Label, m,
		median(r.Runs, func(s runSample) float64 { return s.RTTp50 }), len(r.Runs), time.Since(start).Seconds())
	return r
}

func median[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func spread[T any](xs []T, f func(T) float64) (lo, hi float64) {
	for i, x := range xs {
		v := f(x)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

func diagnose(p *Path) string {
	if p.Diagnose == nil {
		return ""
	}
	return " (" + p.Diagnose() + ")"
}

// selected reports whether BENCH_CASES (comma-separated case and figure
// names, empty for all) includes name.
func selected(name string) bool {
	list := os.Getenv("BENCH_CASES")
	if list == "" {
		return true
	}
	for _, n := range strings.Split(list, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}
