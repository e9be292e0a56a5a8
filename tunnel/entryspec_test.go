package tunnel

import "testing"

func TestParseRemoteEntry(t *testing.T) {
	for _, c := range []struct {
		in   string
		host string
		port int
	}{
		{"-R 8080", "", 8080},
		{"-R0", "", 0},
		{"8080", "", 8080},
		{"-R 0.0.0.0:8080", "0.0.0.0", 8080},
		{"-R *:80", "*", 80},
		{"-R :80", "*", 80},
		{"-R [::1]:8080", "::1", 8080},
		{"R localhost:1", "localhost", 1},
	} {
		h, p, err := ParseRemoteEntry(c.in)
		if err != nil || h != c.host || p != c.port {
			t.Errorf("ParseRemoteEntry(%q) = %q, %d, %v; want %q, %d", c.in, h, p, err, c.host, c.port)
		}
	}
	for _, bad := range []string{"", "-R", "-L 8080", "-R 8080:host:80", "-R 70000", "-R [::1:80", "-R a b:80", "-R x"} {
		if _, _, err := ParseRemoteEntry(bad); err == nil {
			t.Errorf("ParseRemoteEntry(%q) accepted", bad)
		}
	}
}
