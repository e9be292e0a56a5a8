package main

import (
	"errors"
	"fmt"

	"tunnelkit/tunnel"
)

// terminalError adds to a tunnel error what to do about it on this command
// line: the library names no flag, the terminal user needs one.
func terminalError(err error) error {
	var hke *tunnel.HostKeyError
	if errors.As(err, &hke) {
		if hint := hostKeyHint(hke); hint != "" {
			return fmt.Errorf("%w; %s", err, hint)
		}
	}
	return err
}

// hostKeyHint names the flags that answer a refused host key.
func hostKeyHint(e *tunnel.HostKeyError) string {
	switch e.Kind {
	case tunnel.HostKeyUnknown:
		return fmt.Sprintf("once it is confirmed, pass --accept-new-host-key or --host-key %s", e.Fingerprint)
	case tunnel.HostKeyChanged:
		if e.Pinned {
			return "if the key really changed, pass its new fingerprint with --host-key"
		}
	}
	return ""
}
