// Command bench measures tunnelkit against its peers on loopback: direct TCP,
// OpenSSH -L/-R, websockify, the tunnelkit relay, the native client and the
// browser client in headless Chromium. It starts every process itself,
// prints one table (median and range of each figure over the runs, ratios to
// each figure's peer, targets) and writes the same as JSON to bench/results/.
//
//	go run ./bench                  # full: 3 rounds of every case, 1 GiB per native run (~3-10 min on 2 cores)
//	BENCH_QUICK=1 go run ./bench    # smoke run: tiny sizes, one run, well under a minute
//	BENCH_PROFILE=1 go run ./bench  # also CPU and alloc profiles of the relay and native client
//	BENCH_CASES=direct,relay-dial,idle go run ./bench  # only these cases and figures (rtt, idle, heap, wasm, pageload, trace, opentcp, makerun)
//
// Under CI=true every case must run and pass, or the bench exits non-zero.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if runRole() {
		return
	}
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := repoRoot()
	if err != nil {
		log.Fatal(err)
	}
	rep, err := run(ctx, modeFromEnv(), filepath.Join(root, "bench", "results"), os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		log.Fatal(err)
	}
}

// run runs every case and figure in mode m, prints the table to w and writes
// the JSON report into out.
func run(ctx context.Context, m Mode, out string, w interface{ Write([]byte) (int, error) }) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, m.Budget+time.Minute)
	defer cancel()
	e, err := newEnv(ctx, m, out)
	if err != nil {
		return nil, fmt.Errorf("setting up: %w", err)
	}
	defer e.Close()
	rep := newReport(e)
	var cases []Case
	for _, c := range allCases() {
		if selected(c.Name) {
			cases = append(cases, c)
		}
	}
	rep.Cases = runCases(ctx, e, cases)
	for _, f := range allFigures() {
		if ctx.Err() != nil {
			break
		}
		if !selected(f.name) {
			continue
		}
		rep.Figures = append(rep.Figures, f.run(ctx, e)...)
	}
	if m.Profile && ctx.Err() == nil {
		rep.Profiles = profiles(ctx, e)
	}
	rep.finish(e)
	rep.Print(w)
	path, err := rep.Save(out)
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(w, "\nresults: %s\n", path)
	return rep, nil
}

// allCases is every throughput and round-trip case, peers first.
func allCases() []Case {
	return []Case{
		directCase(),
		opensshCase("openssh-L", "OpenSSH ssh -L", "direct", 'L', nil),
		opensshCase("openssh-L-aes", "OpenSSH ssh -L aes128-gcm", "direct", 'L', cipher("aes128-gcm@openssh.com")),
		opensshCase("openssh-R", "OpenSSH ssh -R", "direct", 'R', nil),
		opensshCase("openssh-R-aes", "OpenSSH ssh -R aes128-gcm", "direct", 'R', cipher("aes128-gcm@openssh.com")),
		websockifyCase(),
		relayDialCase(),
		nativeCase("tunnelkit-L", "tunnelkit ssh -L", "openssh-L", 'L', false),
		nativeCase("tunnelkit-L-relay", "tunnelkit ssh -L via relay", "openssh-L", 'L', true),
		nativeCase("tunnelkit-R", "tunnelkit ssh -R", "openssh-R", 'R', false),
		nativeCase("tunnelkit-R-relay", "tunnelkit ssh -R via relay", "openssh-R", 'R', true),
		proxyCase(),
		browserCase("browser-L", "browser -L (Chromium)", "openssh-L", 'L', false),
		browserCase("browser-L-down", "browser -L, exit->entry", "openssh-L", 'L', true),
		browserCase("browser-R", "browser -R (Chromium)", "openssh-R", 'R', false),
	}
}

// allFigures are the measurements that are not a throughput/RTT case.
func allFigures() []figureSet {
	return []figureSet{{"rtt", pairedRTTFigures}, {"idle", idleFigures}, {"heap", heapFigure}, {"endpoint", endpointFigures}, {"wasm", wasmFigures}, {"pageload", pageLoadFigures},
		{"trace", traceFigures}, {"opentcp", openTCPFigure}, {"makerun", makeRunFigure}}
}

type figureSet struct {
	name string // for BENCH_CASES
	run  func(ctx context.Context, e *Env) []Figure
}
