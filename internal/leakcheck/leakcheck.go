// Package leakcheck lets a test check that the goroutines it started have
// ended: it takes a baseline count, and when the test is done waits, bounded,
// for the count to come back down, printing every stack if it does not.
package leakcheck

import (
	"regexp"
	"runtime"
	"testing"
	"time"
)

// maxWait is how long a check waits for goroutines to end: long enough for
// connections being torn down on a loaded machine, short enough to fail fast.
var maxWait = 10 * time.Second

// Baseline is the number of goroutines running before a test's work.
type Baseline int

// Take returns the goroutine count now.
func Take() Baseline { return Baseline(runtime.NumGoroutine()) }

// Settle returns the lowest goroutine count seen over half a second, so that
// goroutines of earlier work still finishing (services closing their
// connections) do not hide a leak.
func Settle() Baseline {
	b := Take()
	for range 20 {
		time.Sleep(25 * time.Millisecond)
		b = min(b, Take())
	}
	return b
}

// Check takes a baseline and, when the test and its later cleanups are done,
// verifies it. Call it first, so that its cleanup runs last.
func Check(t testing.TB) {
	b := Take()
	t.Cleanup(func() { b.Verify(t) })
}

// Verify waits for the goroutine count to come back to b and for no
// goroutine's stack to match any of frames (the code under test's own
// functions), and fails the test with every stack if that does not happen.
func (b Baseline) Verify(t testing.TB, frames ...*regexp.Regexp) {
	t.Helper()
	n, stacks, ok := wait(func(n int, stacks func() string) bool {
		return n <= int(b) && (len(frames) == 0 || !matchAny(frames, stacks()))
	})
	if !ok {
		t.Errorf("%d goroutines before, %d after (waited %v):\n%s", b, n, maxWait, stacks)
	}
}

// Gone waits for no goroutine's stack to match frame, whatever the count,
// and fails the test with every stack if one still does.
func Gone(t testing.TB, frame *regexp.Regexp) {
	t.Helper()
	if _, stacks, ok := wait(func(_ int, stacks func() string) bool { return !frame.MatchString(stacks()) }); !ok {
		t.Errorf("goroutines matching %s still running (waited %v):\n%s", frame, maxWait, stacks)
	}
}

// Stacks returns the stacks of every goroutine.
func Stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// wait polls done until it holds or maxWait has passed. Stacks are only taken
// when done asks for them, or to report a failure.
func wait(done func(n int, stacks func() string) bool) (n int, stacks string, ok bool) {
	for deadline := time.Now().Add(maxWait); ; time.Sleep(20 * time.Millisecond) {
		n = runtime.NumGoroutine()
		if done(n, Stacks) {
			return n, "", true
		}
		if time.Now().After(deadline) {
			return n, Stacks(), false
		}
	}
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
