package main

import (
	"strings"
	"testing"
)

func TestServeRefusesOpenRelayOnNetwork(t *testing.T) {
	for _, c := range []struct {
		listen        string
		tokens, rules bool
		wantRefused   bool
	}{
		{"127.0.0.1:8080", false, false, false},
		{"[::1]:8080", false, false, false},
		{"localhost:8080", false, false, false},
		{"0.0.0.0:8080", false, false, true},
		{":8080", false, false, true},
		{"192.0.2.1:8080", false, false, true},
		{"0.0.0.0:8080", true, false, false},
		{"0.0.0.0:8080", false, true, false},
	} {
		err := checkExposure(c.listen, c.tokens, c.rules)
		if (err != nil) != c.wantRefused {
			t.Errorf("checkExposure(%q, tokens=%v, rules=%v) = %v, want refused=%v", c.listen, c.tokens, c.rules, err, c.wantRefused)
		}
		if err != nil && !strings.Contains(err.Error(), "--token-file") {
			t.Errorf("refusal %q does not say what to do", err)
		}
	}
}
