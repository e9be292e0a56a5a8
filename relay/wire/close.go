package wire

import "strconv"

// CloseCode is a WebSocket close code as the relay protocol uses it.
type CloseCode int

// Close codes: the WebSocket ones a side meets, then the protocol's own.
const (
	CloseNormal    CloseCode = 1000
	CloseGoingAway CloseCode = 1001
	CloseAbnormal  CloseCode = 1006 // no close frame: the connection dropped
	CloseTooBig    CloseCode = 1009

	CloseBadRequest   CloseCode = 4400 // malformed request or protocol error
	CloseUnauthorized CloseCode = 4401 // missing or wrong token
	CloseRefused      CloseCode = 4403 // refused by policy
	// CloseUnknownStream closes a resume for an id the relay does not
	// hold (expired, ended, another relay): the client reconnects instead.
	CloseUnknownStream CloseCode = 4404
	CloseIdle          CloseCode = 4408 // idle timeout
	CloseOverLimit     CloseCode = 4429 // over a stream limit
	CloseDialFailed    CloseCode = 4502 // dial, listen or the target failed
	CloseShuttingDown  CloseCode = 4503 // the relay is shutting down
	CloseDialTimeout   CloseCode = 4504 // resolve or dial timed out
)

var closeNames = map[CloseCode]string{
	CloseNormal:        "normal",
	CloseGoingAway:     "going away",
	CloseAbnormal:      "abnormal",
	CloseTooBig:        "message too big",
	CloseBadRequest:    "bad request",
	CloseUnauthorized:  "unauthorized",
	CloseRefused:       "refused",
	CloseIdle:          "idle",
	CloseOverLimit:     "over limit",
	CloseDialFailed:    "dial failed",
	CloseShuttingDown:  "shutting down",
	CloseDialTimeout:   "dial timeout",
	CloseUnknownStream: "unknown stream",
}

// String names the code: "refused", or the number for an unknown one.
func (c CloseCode) String() string {
	if s, ok := closeNames[c]; ok {
		return s
	}
	return strconv.Itoa(int(c))
}
