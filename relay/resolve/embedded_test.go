package resolve

import (
	"net/netip"
	"testing"
)

func TestEmbeddedIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"64:ff9b::127.0.0.1":   "127.0.0.1",
		"64:ff9b::7f00:1":      "127.0.0.1",
		"64:ff9b::a9fe:a9fe":   "169.254.169.254",
		"64:ff9b:1::a00:5":     "10.0.0.5",
		"2002:7f00:1::":        "127.0.0.1",
		"2002:a9fe:a9fe:1::99": "169.254.169.254",
		"::127.0.0.1":          "127.0.0.1",
		"::0.0.0.2":            "0.0.0.2",
		"::1":                  "",
		"::":                   "",
		"2001:db8::1":          "",
		"fe80::1":              "",
	} {
		got, ok := EmbeddedIPv4(netip.MustParseAddr(in))
		if want == "" {
			if ok {
				t.Errorf("EmbeddedIPv4(%s) = %s, want none", in, got)
			}
			continue
		}
		if !ok || got.String() != want {
			t.Errorf("EmbeddedIPv4(%s) = %v %v, want %s", in, got, ok, want)
		}
	}
}
