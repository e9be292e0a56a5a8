package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendAckIsAnAckMessage(t *testing.T) {
	b := AppendAck(nil, 262144)
	m, err := ParseMessage(b)
	if err != nil || m.Type != TypeAck || m.N != 262144 {
		t.Fatalf("AppendAck = %s: parsed %+v, %v", b, m, err)
	}
}

func TestParseMessageRejects(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{}`, `{"type":""}`, `{"type":"Open"}`, `{"type":"op3n"}`,
		`{"type":"` + strings.Repeat("a", 33) + `"}`,
		`{"type":"ack","pad":"` + strings.Repeat("x", MaxControl) + `"}`,
	} {
		if m, err := ParseMessage([]byte(in)); err == nil {
			t.Errorf("ParseMessage(%.40q) = %+v, want an error", in, m)
		}
	}
}

func TestParseMessageKeepsFields(t *testing.T) {
	want := Message{Type: TypeOpen, Addr: "127.0.0.1:22", Max: 1 << 20, Flow: DefaultFlowWindow, Credit: UpCredit}
	b, _ := json.Marshal(want)
	b = append(b[:len(b)-1], `,"future":1}`...)
	got, err := ParseMessage(b)
	if err != nil || got != want {
		t.Fatalf("ParseMessage(%s) = %+v, %v; want %+v", b, got, err, want)
	}
}

func TestCloseCodeString(t *testing.T) {
	if s := CloseRefused.String(); s != "refused" {
		t.Errorf("CloseRefused = %q", s)
	}
	if s := CloseCode(4999).String(); s != "4999" {
		t.Errorf("unknown code = %q", s)
	}
}

// TestCheckFrames: whole frames pass; a message cut inside a header or a
// payload does not, whatever came before it.
func TestCheckFrames(t *testing.T) {
	frame := func(conn uint32, payload string) []byte {
		b := make([]byte, FrameHeader, FrameHeader+len(payload))
		PutFrameHeader(b, conn, len(payload))
		return append(b, payload...)
	}
	whole := append(append(frame(1, "hello"), frame(2, "")...), frame(3, "world")...)
	if err := CheckFrames(whole); err != nil {
		t.Errorf("whole frames: %v", err)
	}
	if err := CheckFrames(nil); err != nil {
		t.Errorf("no frames: %v", err)
	}
	for _, cut := range []int{len(whole) - 1, len(whole) - 5, len(whole) - 6, FrameHeader - 1, FrameHeader + 2} {
		if err := CheckFrames(whole[:cut]); err == nil {
			t.Errorf("cut at %d of %d: no error", cut, len(whole))
		}
	}
}
