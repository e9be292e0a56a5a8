package client

import (
	"fmt"
	"strings"
)

// Close codes of the protocol (relay/PROTOCOL.md).
const (
	closeNormal    = 1000
	closeTooBig    = 1009
	closeProtocol  = 4400
	closeToken     = 4401
	closePolicy    = 4403
	closeIdle      = 4408
	closeLimit     = 4429
	closeFailed    = 4502
	closeShutdown  = 4503
	closeTimeout   = 4504
	closeAbnormal  = 1006 // no close frame: the connection dropped
	closeGoingAway = 1001
)

// CloseError is the relay closing a stream with a code and a reason, such
// as a refusal by policy (4403) or a failed dial (4502).
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason != "" {
		// The relay's reasons are written for people, mostly naming
		// the relay already ("relay refused 10.0.0.5:5432: ...").
		if strings.HasPrefix(e.Reason, "relay") {
			return e.Reason
		}
		return "relay: " + e.Reason
	}
	switch e.Code {
	case closeNormal:
		return "relay closed the stream"
	case closeGoingAway:
		return "relay went away"
	case closeAbnormal:
		return "relay connection dropped without a close (network error or relay stopped)"
	case closeTooBig:
		return "relay closed the stream: message over its size limit"
	case closeToken:
		return "relay refused: missing or wrong token (use --token-file or TUNNELKIT_TOKEN)"
	case closePolicy:
		return "relay refused by policy"
	case closeIdle:
		return "relay closed the stream: idle timeout"
	case closeLimit:
		return "relay refused: over a stream limit"
	case closeFailed:
		return "relay could not dial or listen"
	case closeShutdown:
		return "relay is shutting down"
	case closeTimeout:
		return "relay timed out dialing"
	}
	return fmt.Sprintf("relay closed the stream with code %d", e.Code)
}
