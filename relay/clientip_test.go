package relay

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := parsePrefixes([]string{"10.0.0.0/8", "192.168.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.9:1234", nil, "203.0.113.9"},
		{"203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},                 // untrusted peer: XFF ignored
		{"10.1.1.1:1234", []string{"1.2.3.4"}, "1.2.3.4"},                        // one trusted hop
		{"10.1.1.1:1234", []string{"6.6.6.6, 1.2.3.4, 192.168.1.1"}, "1.2.3.4"},  // rightmost untrusted
		{"10.1.1.1:1234", []string{"6.6.6.6", "1.2.3.4", "10.2.2.2"}, "1.2.3.4"}, // several headers
		{"10.1.1.1:1234", []string{"10.2.2.2, 10.3.3.3"}, "10.2.2.2"},            // all trusted: leftmost
		{"10.1.1.1:1234", []string{"garbage, 10.3.3.3"}, "10.3.3.3"},             // garbage stops the walk
		{"10.1.1.1:1234", nil, "10.1.1.1"},
		{"[::ffff:10.1.1.1]:1234", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.peer
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(req, trusted); got != netip.MustParseAddr(c.want) {
			t.Errorf("peer %s XFF %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}
