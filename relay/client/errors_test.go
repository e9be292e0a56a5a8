package client

import (
	"strings"
	"testing"

	"tunnelkit/relay/wire"
)

// TestCloseErrorWords: every close code reads as what the relay did, in
// words for anyone (no flag of any command), with its refusal kind.
func TestCloseErrorWords(t *testing.T) {
	for _, c := range []struct {
		code    wire.CloseCode
		refusal Refusal
	}{
		{wire.CloseNormal, NotRefused}, {wire.CloseGoingAway, NotRefused}, {wire.CloseAbnormal, NotRefused},
		{wire.CloseTooBig, NotRefused}, {wire.CloseBadRequest, RefusedRequest}, {wire.CloseUnauthorized, RefusedToken},
		{wire.CloseRefused, RefusedPolicy}, {wire.CloseIdle, NotRefused}, {wire.CloseOverLimit, RefusedLimit},
		{wire.CloseDialFailed, NotRefused}, {wire.CloseShuttingDown, NotRefused}, {wire.CloseDialTimeout, NotRefused},
		{4999, NotRefused},
	} {
		e := &CloseError{Code: c.code}
		msg := e.Error()
		if !strings.HasPrefix(msg, "relay") || strings.Contains(msg, "--") {
			t.Errorf("CloseError{%d}.Error() = %q: want the relay's doing, no flag", c.code, msg)
		}
		if got := e.Refusal(); got != c.refusal {
			t.Errorf("CloseError{%d}.Refusal() = %v, want %v", c.code, got, c.refusal)
		}
	}
	e := &CloseError{Code: wire.CloseRefused, Reason: "relay refused 10.0.0.5:22: not in allow list"}
	if e.Error() != e.Reason {
		t.Errorf("Error() = %q, want the relay's reason as is", e.Error())
	}
	e = &CloseError{Code: wire.CloseIdle, Reason: "idle timeout: no data for 10m0s"}
	if e.Error() != "relay: idle timeout: no data for 10m0s" {
		t.Errorf("Error() = %q, want the reason after relay:", e.Error())
	}
}
