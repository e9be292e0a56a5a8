package main

import (
	"errors"
	"strings"

	"tunnelkit/relay/client"
	"tunnelkit/relay/wire"
)

// relayHint words a relay's close for a terminal: the relay/client error
// says what the relay did, in neutral words; this names the setting (the
// relay's flag, or this command's) that would change it. "" when it has
// nothing to add. It is appended to the error as printed.
func relayHint(err error) string {
	var ce *client.CloseError
	if !errors.As(err, &ce) {
		return ""
	}
	switch ce.Code {
	case wire.CloseUnauthorized:
		return " (use --token-file or TUNNELKIT_TOKEN)"
	case wire.CloseRefused:
		switch {
		case strings.Contains(ce.Reason, "listen allow list"):
			return " (the relay's operator must allow it: see --allow-listen)"
		case strings.Contains(ce.Reason, "allowed only by address"):
			return " (the relay's operator must allow it by address with --allow)"
		}
		return " (see --allow)"
	case wire.CloseOverLimit:
		return " (see the relay's --max-streams and --max-streams-per-client)"
	case wire.CloseIdle:
		return " (see the relay's --idle-timeout)"
	case wire.CloseDialTimeout:
		return " (see the relay's --dial-timeout)"
	case wire.CloseTooBig:
		return " (see the relay's --max-message-size)"
	}
	return ""
}
