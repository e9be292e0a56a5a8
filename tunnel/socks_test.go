package tunnel

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

type socksConn struct {
	io.Reader
	out bytes.Buffer // what the server wrote
}

func (c *socksConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *socksConn) String() string              { return c.out.String() }

func TestReadSOCKS(t *testing.T) {
	for _, tc := range []struct {
		name, in        string
		version         byte
		host            string
		port            int
		wrote, leftover string
	}{
		{"socks5 name", "\x05\x01\x00\x05\x01\x00\x03\x0bexample.com\x01\xbbGET /", 5, "example.com", 443, "\x05\x00", "GET /"},
		{"socks5 ipv4", "\x05\x02\x02\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", 5, "127.0.0.1", 80, "\x05\x00", ""},
		{"socks5 ipv6", "\x05\x01\x00\x05\x01\x00\x04" + strings.Repeat("\x00", 15) + "\x01\x00\x16", 5, "::1", 22, "\x05\x00", ""},
		{"socks4", "\x04\x01\x00\x50\x0a\x00\x00\x05user\x00data", 4, "10.0.0.5", 80, "", "data"},
		{"socks4a", "\x04\x01\x00\x50\x00\x00\x00\x01\x00db.internal\x00x", 4, "db.internal", 80, "", "x"},
	} {
		in := strings.NewReader(tc.in)
		c := &socksConn{Reader: in}
		req, err := readSOCKS(c)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		rest, _ := io.ReadAll(in)
		if req.version != tc.version || req.host != tc.host || req.port != tc.port || c.String() != tc.wrote || string(rest) != tc.leftover {
			t.Errorf("%s: %+v, wrote %q, left %q", tc.name, req, c.String(), rest)
		}
	}
}

func TestReadSOCKSRefused(t *testing.T) {
	for _, tc := range []struct{ name, in, wrote, why string }{
		{"http", "GET / HTTP/1.1\r\n", "", "not a SOCKS request"},
		{"socks5 auth only", "\x05\x01\x02", "\x05\xff", "no method without authentication"},
		{"socks5 udp", "\x05\x01\x00\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00", "\x05\x00\x05\x07", "only CONNECT"},
		{"socks5 atyp", "\x05\x01\x00\x05\x01\x00\x09", "\x05\x00\x05\x08", "address type 9"},
		{"socks4 bind", "\x04\x02\x00\x50\x0a\x00\x00\x05\x00", "\x00\x5b", "only CONNECT"},
		{"socks4 long user", "\x04\x01\x00\x50\x0a\x00\x00\x05" + strings.Repeat("u", 300) + "\x00", "", "longer than 255"},
	} {
		c := &socksConn{Reader: strings.NewReader(tc.in)}
		_, err := readSOCKS(c)
		var se *SOCKSError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.why) || !strings.HasPrefix(c.String(), tc.wrote) {
			t.Errorf("%s: err %v, wrote % x; want %q and a reply starting % x", tc.name, err, c.String(), tc.why, tc.wrote)
		}
	}
}

func TestSOCKS5Code(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want byte
	}{
		{&ssh.OpenChannelError{Reason: ssh.Prohibited}, socks5NotAllowed},
		{&ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Connection refused"}, socks5ConnRefused},
		{&ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "getaddrinfo: Name or service not known"}, socks5HostUnreachable},
		{errors.New("timeout"), socks5GeneralFailure},
	} {
		if got := socks5Code(tc.err); got != tc.want {
			t.Errorf("socks5Code(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
