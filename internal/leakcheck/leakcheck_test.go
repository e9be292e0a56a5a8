package leakcheck

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps the failure instead of failing.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) { r.failure = fmt.Sprintf(format, args...) }

func parked(stop <-chan struct{}) { <-stop }

func TestVerify(t *testing.T) {
	defer func(d time.Duration) { maxWait = d }(maxWait)
	maxWait = 200 * time.Millisecond

	b := Take()
	stop := make(chan struct{})
	go parked(stop)
	r := &recorder{TB: t}
	b.Verify(r)
	if !strings.Contains(r.failure, "leakcheck.parked") {
		t.Errorf("Verify with a goroutine left: failure %q, want the stacks naming it", r.failure)
	}
	frame := regexp.MustCompile(`leakcheck\.parked`)
	r = &recorder{TB: t}
	Gone(r, frame)
	if r.failure == "" {
		t.Error("Gone passed with a matching goroutine running")
	}

	close(stop)
	r = &recorder{TB: t}
	b.Verify(r, frame)
	Gone(r, frame)
	if r.failure != "" {
		t.Errorf("after the goroutine ended: %s", r.failure)
	}
}
