package main

import (
	"errors"
	"fmt"
	"testing"

	"tunnelkit/relay/client"
	"tunnelkit/relay/wire"
)

func TestRelayHint(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&client.CloseError{Code: wire.CloseRefused, Reason: "relay refused 10.0.0.5:22: not in allow list"}, " (see --allow)"},
		{fmt.Errorf("reach gateway: %w", &client.CloseError{Code: wire.CloseRefused, Reason: "relay refused listen on 0.0.0.0:80: not in listen allow list"}), " (the relay's operator must allow it: see --allow-listen)"},
		{&client.CloseError{Code: wire.CloseRefused, Reason: "relay refused 169.254.169.254:80: link-local or metadata address, allowed only by address"}, " (the relay's operator must allow it by address with --allow)"},
		{&client.CloseError{Code: wire.CloseUnauthorized}, " (use --token-file or TUNNELKIT_TOKEN)"},
		{&client.CloseError{Code: wire.CloseDialFailed, Reason: "relay could not connect to 127.0.0.1:1: connection refused"}, ""},
		{errors.New("not a relay error"), ""},
	} {
		if got := relayHint(c.err); got != c.want {
			t.Errorf("relayHint(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
