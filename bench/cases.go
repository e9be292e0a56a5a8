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

// liveCase is a case whose tunnel is set up, waiting for its next run.
type liveCase struct {
	c Case
	r CaseResult
	p *Path
}

// runCases sets up every case, then measures them in rounds: one run of
// each case per round, peers and tunnelkit alike. Absolute figures on a
// shared machine drift over minutes; with the runs of a case and of its
// peer interleaved, the drift falls on both and their ratio holds.
func runCases(ctx context.Context, e *Env, cases []Case) []CaseResult {
	live := make([]*liveCase, len(cases))
	for i, c := range cases {
		live[i] = setupCase(ctx, e, c)
	}
	defer func() {
		for _, l := range live {
			if l.p != nil {
				l.p.Close()
			}
		}
	}()
	for round := range e.Mode.Runs {
		if round > 0 && e.left() < 30*time.Second {
			log.Printf("stopping after %d rounds: bench budget nearly spent", round)
			break
		}
		for _, l := range live {
			if l.p != nil && ctx.Err() == nil {
				l.run(ctx, e, round)
			}
		}
	}
	out := make([]CaseResult, len(live))
	for i, l := range live {
		if l.p != nil {
			l.r.Status = statusOK
			log.Printf("%-28s %8.1f MB/s  p50 %7.1f µs  (%d runs)", l.c.Label,
				median(l.r.Runs, func(s runSample) float64 { return s.MBps }),
				median(l.r.Runs, func(s runSample) float64 { return s.RTTp50 }), len(l.r.Runs))
		}
		out[i] = l.r
	}
	return out
}

// setupCase starts a case's tunnel; a case that cannot run is returned
// with its status and reason and no path.
func setupCase(ctx context.Context, e *Env, c Case) *liveCase {
	l := &liveCase{c: c, r: CaseResult{Name: c.Name, Label: c.Label, Peer: c.Peer, Bytes: e.Mode.NativeBytes}}
	if c.Browser {
		l.r.Bytes = e.Mode.BrowserBytes
	}
	if e.left() < 15*time.Second {
		l.fail(na("out of time (bench budget %v)", e.Mode.Budget))
		return l
	}
	p, err := c.Setup(ctx, e)
	if err != nil {
		l.fail(err)
		return l
	}
	l.p = p
	return l
}

// run measures one run of the case: throughput, then round trips.
func (l *liveCase) run(ctx context.Context, e *Env, round int) {
	var s runSample
	var err error
	if s.MBps, s.CPUPerGiB, err = measureThroughput(ctx, e, l.p, l.r.Bytes); err != nil {
		l.fail(fmt.Errorf("run %d, throughput: %w%s", round+1, err, diagnose(l.p)))
		return
	}
	if s.RTTp50, s.RTTp99, err = measureRTT(ctx, e, l.p, e.Mode.RTTRounds); err != nil {
		l.fail(fmt.Errorf("run %d, round trips: %w%s", round+1, err, diagnose(l.p)))
		return
	}
	l.r.Runs = append(l.r.Runs, s)
}

// fail records why the case did not finish and stops its tunnel.
func (l *liveCase) fail(err error) {
	l.r.Status, l.r.Reason = statusError, err.Error()
	if isNA(err) {
		l.r.Status = statusNA
	}
	l.r.Runs = nil
	log.Printf("%-28s %s: %s", l.c.Label, l.r.Status, l.r.Reason)
	if l.p != nil {
		l.p.Close()
		l.p = nil
	}
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
