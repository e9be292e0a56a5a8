package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

type sentLog struct{ msgs [][]byte }

func (l *sentLog) send(_ context.Context, p []byte) error {
	l.msgs = append(l.msgs, bytes.Clone(p))
	return nil
}

// TestGatherSmallWrites: small writes become one message at the flush;
// a write that would overflow the limit sends what was gathered first;
// one over the limit and the zero-length half-close go alone, in order.
func TestGatherSmallWrites(t *testing.T) {
	ctx := context.Background()
	var l sentLog
	g := gatherer{send: l.send}
	const limit = 10
	steps := []struct {
		p        string
		gathered bool
	}{
		{"abc", true}, {"defg", true}, // 7 gathered
		{"hijk", true},          // would be 11: flush "abcdefg", gather "hijk"
		{"0123456789AB", false}, // over the limit: flush "hijk", send alone
		{"x", true},
		{"", false}, // FIN: flush "x", send the empty message
	}
	for _, s := range steps {
		gathered, err := g.write(ctx, []byte(s.p), limit)
		if err != nil || gathered != s.gathered {
			t.Fatalf("write(%q) = %v %v, want gathered %v", s.p, gathered, err, s.gathered)
		}
	}
	if err := g.flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"abcdefg", "hijk", "0123456789AB", "x", ""}
	if len(l.msgs) != len(want) {
		t.Fatalf("sent %q, want %q", l.msgs, want)
	}
	for i, w := range want {
		if string(l.msgs[i]) != w {
			t.Fatalf("message %d = %q, want %q (all: %q)", i, l.msgs[i], w, l.msgs)
		}
	}
}

// TestGatherSendError: a failed send is the write's error, and what failed
// is not sent again.
func TestGatherSendError(t *testing.T) {
	ctx := context.Background()
	fail := errors.New("socket gone")
	calls := 0
	g := gatherer{send: func(context.Context, []byte) error { calls++; return fail }}
	if _, err := g.write(ctx, []byte("abc"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := g.write(ctx, nil, 10); !errors.Is(err, fail) {
		t.Fatalf("write after a gathered one = %v, want the send's error", err)
	}
	if err := g.flush(ctx); err != nil || calls != 1 {
		t.Fatalf("flush after the failure = %v with %d sends, want nothing left to send", err, calls)
	}
}

// TestGatherIdleSendsAtOnce: to an idle link a small lone write goes at
// once; a bulk write gathers; once the link is busy, writes gather again,
// and a write never overtakes what is gathered.
func TestGatherIdleSendsAtOnce(t *testing.T) {
	ctx := context.Background()
	var l sentLog
	idle := true
	g := gatherer{send: l.send, idle: func() bool { return idle }}
	const limit = 10
	steps := []struct {
		p        string
		idle     bool
		gathered bool
	}{
		{"ab", true, false}, // idle: sent alone
		{"cd", false, true}, // busy: gathered
		{"ef", true, true},  // idle again, but "cd" waits: gathered behind it
	}
	for _, s := range steps {
		idle = s.idle
		gathered, err := g.write(ctx, []byte(s.p), limit)
		if err != nil || gathered != s.gathered {
			t.Fatalf("write(%q) idle %v = %v %v, want gathered %v", s.p, s.idle, gathered, err, s.gathered)
		}
	}
	if err := g.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%q", l.msgs); got != `["ab" "cdef"]` {
		t.Fatalf("sent %s, want [\"ab\" \"cdef\"]", got)
	}
	bulk := make([]byte, smallWrite+1)
	if gathered, err := g.write(ctx, bulk, 2*len(bulk)); err != nil || !gathered {
		t.Fatalf("bulk write to an idle link = %v %v, want gathered", gathered, err)
	}
}
