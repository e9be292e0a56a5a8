//go:build !js

package tunnel_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
)

// Conns lists each open connection of a -L or -R with its own live bytes,
// and drops it once it closes.
func TestForwardConns(t *testing.T) {
	for _, kind := range []string{"-L", "-R"} {
		t.Run(kind, func(t *testing.T) { testForwardConns(t, kind) })
	}
}

func testForwardConns(t *testing.T, kind string) {
	ctx := testContext(t, 30*time.Second)
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: gateway1})
	echo := sshtest.StartEcho(t, host3+":0")
	c := connect(t, ctx, gw, keyConfig(t, gw))
	f := forward(t, ctx, c, kind+" 127.0.0.1:0:"+echo)
	if got := f.Conns(); len(got) != 0 {
		t.Fatalf("Conns() before any connection = %+v, want none", got)
	}

	// echoes n bytes on conn and waits for them to come back
	roundTrip := func(conn net.Conn, n int) {
		t.Helper()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	dial := func() net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", f.Entry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	a := dial()
	roundTrip(a, 1000) // a's channel is open before b is dialed: a is listed first
	b := dial()
	roundTrip(b, 300)

	want := func(conns ...net.Conn) func(sizes ...int64) error {
		return func(sizes ...int64) error {
			got := f.Conns()
			if len(got) != len(conns) {
				return fmt.Errorf("Conns() = %+v, want %d open", got, len(conns))
			}
			for i, cs := range got {
				if cs.Remote != conns[i].LocalAddr().String() || cs.BytesIn != sizes[i] || cs.BytesOut != sizes[i] ||
					cs.Opened.IsZero() || cs.ID == 0 {
					return fmt.Errorf("Conns()[%d] = %+v, want remote %s and %d bytes each way",
						i, cs, conns[i].LocalAddr(), sizes[i])
				}
			}
			return nil
		}
	}
	if err := eventually(5*time.Second, func() error { return want(a, b)(1000, 300) }); err != nil {
		t.Fatal(err)
	}
	first := f.Conns()

	roundTrip(a, 4000) // grows a's counters, not b's
	if err := eventually(5*time.Second, func() error { return want(a, b)(5000, 300) }); err != nil {
		t.Fatal(err)
	}
	if got := f.Conns(); got[0].ID != first[0].ID || !got[0].Opened.Equal(first[0].Opened) {
		t.Errorf("connection a changed identity: %+v, then %+v", first[0], got[0])
	}

	a.Close()
	if err := eventually(5*time.Second, func() error { return want(b)(300) }); err != nil {
		t.Fatal(err)
	}
	if st := f.Stats(); st.BytesIn != 5300 || st.BytesOut != 5300 {
		t.Errorf("Stats() = %+v, want 5300 bytes each way (the sum of the connections)", st)
	}
}
