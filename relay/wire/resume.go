package wire

// Resume (PROTOCOL.md, "Resume"): a data stream opened with ResumeParam=1
// survives its WebSocket dropping. The relay names it in the open message
// ("resume": an id, "window": how long it waits); the client re-attaches
// with GET /v1/resume?id=ID&n=RECEIVED and the relay answers TypeResumed
// (message.go) with what it had received, or closes with
// CloseUnknownStream (close.go). Acks are then mandatory both ways and count
// bytes received (the client) and written to the target (the relay).
const (
	ResumeParam = "resume" // query parameter of dial and listen asking for a resumable stream

	// ResumeBuffer bounds what each side keeps for replay: what it sent
	// and the other has not acknowledged. A sender waits when it is full.
	ResumeBuffer = 4 << 20
)
