package tunnel

import "time"

// EventKind names what happened.
type EventKind string

const (
	EventForwardUp   EventKind = "forward-up"   // the entry socket is bound
	EventForwardDown EventKind = "forward-down" // the forward stopped
	EventOpened      EventKind = "opened"       // a connection was accepted and its exit reached
	EventClosed      EventKind = "closed"       // a connection ended
	EventError       EventKind = "error"        // a connection or forward failed; Err says why
)

// Event is one entry of a client's event stream (for logs and the UI).
type Event struct {
	Time              time.Time
	Kind              EventKind
	Forward           Spec
	Entry             string // bound entry socket
	Conn              uint64 // connection number within the forward (0 for forward events)
	Remote            string // peer of the entry connection, when known
	BytesIn, BytesOut int64
	Err               error
}

func (f *Forward) emit(e Event) {
	if f.c.cfg.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	e.Forward = f.spec
	e.Entry = f.entry
	f.c.cfg.OnEvent(e)
}
