package relay

import (
	"fmt"
	"path"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// acceptOptions keeps coder/websocket's cross-origin rejection on: a page
// may open streams only from the relay's own origin or an allowed one.
func acceptOptions(origins []string) (*websocket.AcceptOptions, error) {
	for _, o := range origins {
		if o == "*" {
			return nil, fmt.Errorf("allow-origin %q would let any web page use the relay; name the origins", o)
		}
		if _, err := path.Match(o, ""); err != nil {
			return nil, fmt.Errorf("allow-origin %q: %v", o, err)
		}
	}
	return &websocket.AcceptOptions{
		Subprotocols:   []string{wire.Subprotocol},
		OriginPatterns: origins,
	}, nil
}
