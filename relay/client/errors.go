package client

import (
	"fmt"
	"strings"

	"tunnelkit/relay/wire"
)

// CloseError is the relay closing a stream with a code and a reason, such
// as a refusal by policy (wire.CloseRefused) or a failed dial
// (wire.CloseDialFailed). Callers word it for their own reader; Refusal
// says what kind of refusal it is.
type CloseError struct {
	Code   wire.CloseCode
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
	case wire.CloseNormal:
		return "relay closed the stream"
	case wire.CloseGoingAway:
		return "relay went away"
	case wire.CloseAbnormal:
		return "relay connection dropped without a close (network error or relay stopped)"
	case wire.CloseTooBig:
		return "relay closed the stream: message over its size limit"
	case wire.CloseUnauthorized:
		return "relay refused: missing or wrong token"
	case wire.CloseRefused:
		return "relay refused by policy"
	case wire.CloseIdle:
		return "relay closed the stream: idle timeout"
	case wire.CloseOverLimit:
		return "relay refused: over a stream limit"
	case wire.CloseDialFailed:
		return "relay could not dial or listen"
	case wire.CloseShuttingDown:
		return "relay is shutting down"
	case wire.CloseDialTimeout:
		return "relay timed out dialing"
	}
	return fmt.Sprintf("relay closed the stream with code %d", e.Code)
}

// Refusal is what kind of "no" a close is, for callers that word a hint:
// what to change on their side, or what the relay's operator must allow.
type Refusal int

const (
	NotRefused     Refusal = iota // not a refusal: a normal end, a failure, a drop
	RefusedToken                  // missing or wrong token
	RefusedPolicy                 // the target or listen address is not allowed
	RefusedLimit                  // over a stream limit
	RefusedRequest                // the relay found the request malformed
)

// Refusal classifies the close by its code.
func (e *CloseError) Refusal() Refusal {
	switch e.Code {
	case wire.CloseUnauthorized:
		return RefusedToken
	case wire.CloseRefused:
		return RefusedPolicy
	case wire.CloseOverLimit:
		return RefusedLimit
	case wire.CloseBadRequest:
		return RefusedRequest
	}
	return NotRefused
}
