package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if runRole() {
		return
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole bench in quick mode, so the harness cannot rot.
// It asserts that every case and figure ran and that payloads arrived intact
// (the sink checks every byte), never how fast: under CI=true a case that
// did not run fails the test; elsewhere cases whose component is missing are
// logged as n/a.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd, websockify, the relay and Chromium: not in -short")
	}
	t.Setenv("BENCH_QUICK", "1")
	m := modeFromEnv()
	ctx, cancel := context.WithTimeout(context.Background(), m.Budget+2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := run(ctx, m, t.TempDir(), &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Cases {
		switch c.Status {
		case statusOK:
			if len(c.Runs) == 0 || c.Runs[0].MBps <= 0 || c.Runs[0].RTTp50 <= 0 {
				t.Errorf("case %s: ok without figures: %+v", c.Name, c.Runs)
			}
		case statusNA:
			t.Logf("case %s: n/a: %s", c.Name, c.Reason)
		default:
			t.Errorf("case %s failed: %s", c.Name, c.Reason)
		}
	}
	for _, f := range rep.Figures {
		if f.Status == statusError {
			t.Errorf("figure %s failed: %s", f.Name, f.Reason)
		}
	}
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
}

// TestSinkCatchesCorruption checks the sink's content check: one wrong byte
// in the middle of the stream is an error, not a fast result.
func TestSinkCatchesCorruption(t *testing.T) {
	s, ctx := testSink(t)
	const n = 3 << 20
	for _, corrupt := range []bool{false, true} {
		tok := s.Expect(n)
		c, err := tcpDialer(s.Addr())(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w := &corruptWriter{w: c, at: 2<<20 + 5, on: corrupt}
		if err := sendRun(w, tok, n, 64<<10); err != nil {
			t.Fatal(err)
		}
		r, err := s.Wait(ctx)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if corrupt && r.Err == nil {
			t.Errorf("corrupted stream accepted: %+v", r)
		}
		if !corrupt && (r.Err != nil || r.Bytes != n) {
			t.Errorf("clean stream rejected: %+v", r)
		}
	}
}

// A connection from elsewhere that reaches the sink's port during a run,
// with data that is not the run's, is not taken for the run.
func TestSinkIgnoresStrayConnections(t *testing.T) {
	s, ctx := testSink(t)
	const n = 1 << 20
	tok := s.Expect(n)
	stray, err := tcpDialer(s.Addr())(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	if _, err := stray.Write([]byte("SSH-2.0-somebody-else\r\n and more than a token's worth")); err != nil {
		t.Fatal(err)
	}
	// Let the sink read the stray connection first.
	for deadline := time.Now().Add(5 * time.Second); len(s.results) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	c, err := tcpDialer(s.Addr())(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := sendRun(c, tok, n, 64<<10); err != nil {
		t.Fatal(err)
	}
	r, err := s.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Err != nil || r.Bytes != n {
		t.Fatalf("the run's result: %+v, want %d clean bytes", r, n)
	}
}

// testSink starts a sink on loopback for the test, with a context bounding it.
func testSink(t *testing.T) (*Sink, context.Context) {
	t.Helper()
	s, err := startSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return s, ctx
}

type corruptWriter struct {
	w   interface{ Write([]byte) (int, error) }
	off int64
	at  int64
	on  bool
}

func (c *corruptWriter) Write(p []byte) (int, error) {
	if c.on && c.off <= c.at && c.at < c.off+int64(len(p)) {
		q := append([]byte(nil), p...)
		q[c.at-c.off] ^= 0xff
		p = q
	}
	c.off += int64(len(p))
	return c.w.Write(p)
}
