package resolve

import (
	"testing"
)

func TestParseHostPortCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:22":           "127.0.0.1:22",
		"2130706433:22":          "127.0.0.1:22",
		"0x7f.1:22":              "127.0.0.1:22",
		"0x7F000001:22":          "127.0.0.1:22",
		"127.1:22":               "127.0.0.1:22",
		"127.0.1:22":             "127.0.0.1:22",
		"017700000001:22":        "127.0.0.1:22",
		"0177.0.0.01:22":         "127.0.0.1:22",
		"[::ffff:127.0.0.1]:22":  "127.0.0.1:22",
		"[::FFFF:7f00:1]:22":     "127.0.0.1:22",
		"[fe80::1%eth0]:22":      "[fe80::1%eth0]:22",
		"[2001:db8::1%eth0]:22":  "[2001:db8::1]:22",
		"[0:0:0:0:0:0:0:1]:22":   "[::1]:22",
		"Example.COM.:443":       "example.com:443",
		"db-1.internal:5432":     "db-1.internal:5432",
		"169.254.43518:80":       "169.254.169.254:80",
		"0251.0376.0251.0376:80": "169.254.169.254:80",
		"[fd00:ec2:0::254]:80":   "[fd00:ec2::254]:80",
		"0:80":                   "0.0.0.0:80",
		"4294967295:1":           "255.255.255.255:1",
	} {
		h, p, err := ParseHostPort(in)
		if err != nil {
			t.Errorf("ParseHostPort(%q): %v", in, err)
			continue
		}
		if got := JoinHostPort(h, p); got != want {
			t.Errorf("ParseHostPort(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseHostPortRejects(t *testing.T) {
	for _, in := range []string{
		"", "127.0.0.1", ":22", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:+22", "127.0.0.1:0x16",
		"::1:22", "[127.0.0.1]:22", "[::1]", "[::1]22", "1.2.3.4.5:22", "256.0.0.1:22",
		"4294967296:22", "0x100000000:22", "08.0.0.1:22", "127.0.0.1.:22", "127.1 :22",
		" 127.0.0.1:22", "0x:22", "1password:22", "a..b:22", "-a.example:22", "a_b%c:22",
		"[fe80::1%]:22", "[fe80::1%eth 0]:22", "exa mple.com:22", "127.0.0.1\x00:22",
	} {
		if h, p, err := ParseHostPort(in); err == nil {
			t.Errorf("ParseHostPort(%q) = %v %d, want an error", in, h, p)
		}
	}
}

// FuzzParseTarget: the parser never panics, and its canonical output
// parses back to the same thing.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"127.0.0.1:22", "2130706433:1", "0x7f.1:80", "[::ffff:127.0.0.1]:22",
		"[fe80::1%eth0]:22", "example.com:443", "017700000001:5", "a.b.c.d:1", "[::1]:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, err := ParseHostPort(s)
		if err != nil {
			return
		}
		c := JoinHostPort(h, p)
		h2, p2, err := ParseHostPort(c)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", c, s, err)
		}
		if h2 != h || p2 != p || JoinHostPort(h2, p2) != c {
			t.Fatalf("canonical %q of %q parses to %v %d", c, s, h2, p2)
		}
	})
}
