package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"time"
)

// makeRunFigure: `make run` again with nothing changed, to "demo is running":
// the time `make build` takes when every output is up to date, plus the
// demo's start until its page answers. The bench itself runs after `make
// build`, so nothing is out of date.
func makeRunFigure(ctx context.Context, e *Env) []Figure {
	const name, label = "make-run-noop", "make run, nothing changed, to the demo page answering"
	fail := func(err error) []Figure { return []Figure{figureNA(name, label, "s", err)} }
	if _, err := exec.LookPath("make"); err != nil {
		return fail(na("make not installed"))
	}
	start := time.Now()
	mk := exec.CommandContext(ctx, "make", "-s", "build")
	mk.Dir = e.Root
	if out, err := mk.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("make build: %v: %s", err, oneLine(string(out), 300)))
	}
	built := time.Since(start)
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	addr := loopback(port)
	p, err := startProc(ctx, "tunnelkit demo", []string{filepath.Join(e.Root, "bin", "tunnelkit"), "demo", "--listen", addr}, nil)
	if err != nil {
		return fail(err)
	}
	defer p.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if p.Exited() || time.Now().After(deadline) {
			return fail(p.Failure("demo did not serve its page"))
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	total := time.Since(start)
	return []Figure{{Name: name, Label: label, Unit: "s", Values: []float64{total.Seconds()}, Status: statusOK,
		Note: fmt.Sprintf("make build %.2f s, then the demo starts", built.Seconds())}}
}
