package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The SOCKS side of a -D forward: SOCKS5 (RFC 1928, no authentication,
// CONNECT with IPv4, IPv6 or a host name the gateway resolves, as socks5h)
// and SOCKS4/4a CONNECT, as OpenSSH's ssh -D serves them. Unlike OpenSSH,
// which says yes before the gateway has answered, the reply waits for the
// direct-tcpip channel, so a refusal reaches the SOCKS client as a refusal.

// SOCKS5 reply codes (RFC 1928 section 6).
const (
	socks5Succeeded        = 0x00
	socks5GeneralFailure   = 0x01
	socks5NotAllowed       = 0x02
	socks5HostUnreachable  = 0x04
	socks5ConnRefused      = 0x05
	socks5CmdNotSupported  = 0x07
	socks5AddrNotSupported = 0x08
)

// SOCKS4 reply codes.
const (
	socks4Granted  = 0x5a
	socks4Rejected = 0x5b
)

// SOCKSError is a SOCKS request that was refused before any channel was
// opened: a protocol other than SOCKS4/5, a command other than CONNECT, no
// acceptable authentication method, a malformed request.
type SOCKSError struct {
	Version byte   // 4 or 5; 0 when not even the version byte made sense
	Reason  string // what was wrong
}

func (e *SOCKSError) Error() string {
	if e.Version == 0 {
		return "not a SOCKS request: " + e.Reason
	}
	return fmt.Sprintf("SOCKS%d request refused: %s", e.Version, e.Reason)
}

// socksRequest is one CONNECT request read from a SOCKS client.
type socksRequest struct {
	version byte
	host    string // host name or IP address, as the client gave it
	port    int
}

func (r *socksRequest) addr() string { return net.JoinHostPort(r.host, strconv.Itoa(r.port)) }

// maxSOCKSField bounds a SOCKS4 user id or 4a host name (SOCKS5 names are
// at most 255 bytes by their length byte).
const maxSOCKSField = 255

// readSOCKS reads a SOCKS greeting and CONNECT request from rw. It reads
// exactly what the protocol defines, nothing buffered beyond, so data a
// client sends right after its request is left for the channel. On a
// refusal it has already answered the client.
func readSOCKS(rw io.ReadWriter) (*socksRequest, error) {
	var ver [1]byte
	if _, err := io.ReadFull(rw, ver[:]); err != nil {
		return nil, fmt.Errorf("reading SOCKS version: %w", err)
	}
	switch ver[0] {
	case 5:
		return readSOCKS5(rw)
	case 4:
		return readSOCKS4(rw)
	}
	return nil, &SOCKSError{Reason: fmt.Sprintf("first byte %#x (want 4 or 5; is this client set up for a SOCKS proxy?)", ver[0])}
}

func readSOCKS5(rw io.ReadWriter) (*socksRequest, error) {
	var n [1]byte
	if _, err := io.ReadFull(rw, n[:]); err != nil {
		return nil, err
	}
	methods := make([]byte, n[0])
	if _, err := io.ReadFull(rw, methods); err != nil {
		return nil, err
	}
	if !strings.ContainsRune(string(methods), 0) {
		rw.Write([]byte{5, 0xff})
		return nil, &SOCKSError{Version: 5, Reason: "the client offers no method without authentication (ssh -D needs none)"}
	}
	if _, err := rw.Write([]byte{5, 0}); err != nil {
		return nil, err
	}
	var hdr [4]byte // VER CMD RSV ATYP
	if _, err := io.ReadFull(rw, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != 5 {
		return nil, &SOCKSError{Version: 5, Reason: fmt.Sprintf("request version %d", hdr[0])}
	}
	if hdr[1] != 1 {
		writeSOCKS5Reply(rw, socks5CmdNotSupported)
		return nil, &SOCKSError{Version: 5, Reason: fmt.Sprintf("command %d (only CONNECT is supported)", hdr[1])}
	}
	host, err := readSOCKS5Addr(rw, hdr[3])
	if err != nil {
		return nil, err
	}
	var port [2]byte
	if _, err := io.ReadFull(rw, port[:]); err != nil {
		return nil, err
	}
	return &socksRequest{version: 5, host: host, port: int(binary.BigEndian.Uint16(port[:]))}, nil
}

func readSOCKS5Addr(rw io.ReadWriter, atyp byte) (string, error) {
	switch atyp {
	case 1, 4:
		b := make([]byte, 4)
		if atyp == 4 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(rw, b); err != nil {
			return "", err
		}
		a, _ := netip.AddrFromSlice(b)
		return a.String(), nil
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(rw, n[:]); err != nil {
			return "", err
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(rw, name); err != nil {
			return "", err
		}
		if n[0] == 0 {
			writeSOCKS5Reply(rw, socks5HostUnreachable)
			return "", &SOCKSError{Version: 5, Reason: "empty host name"}
		}
		return string(name), nil
	}
	writeSOCKS5Reply(rw, socks5AddrNotSupported)
	return "", &SOCKSError{Version: 5, Reason: fmt.Sprintf("address type %d", atyp)}
}

func readSOCKS4(rw io.ReadWriter) (*socksRequest, error) {
	var hdr [7]byte // CMD DSTPORT(2) DSTIP(4)
	if _, err := io.ReadFull(rw, hdr[:]); err != nil {
		return nil, err
	}
	if _, err := readNulTerminated(rw); err != nil { // the user id, unused
		return nil, err
	}
	if hdr[0] != 1 {
		writeSOCKS4Reply(rw, socks4Rejected)
		return nil, &SOCKSError{Version: 4, Reason: fmt.Sprintf("command %d (only CONNECT is supported)", hdr[0])}
	}
	r := &socksRequest{version: 4, port: int(binary.BigEndian.Uint16(hdr[1:3]))}
	ip := hdr[3:7]
	if ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0 {
		// SOCKS4a: 0.0.0.x says a host name follows, for the gateway to resolve.
		name, err := readNulTerminated(rw)
		if err != nil {
			return nil, err
		}
		if name == "" {
			writeSOCKS4Reply(rw, socks4Rejected)
			return nil, &SOCKSError{Version: 4, Reason: "empty SOCKS4a host name"}
		}
		r.host = name
	} else {
		r.host = netip.AddrFrom4([4]byte(ip)).String()
	}
	return r, nil
}

// readNulTerminated reads a SOCKS4 string one byte at a time, so nothing
// after it is consumed.
func readNulTerminated(r io.Reader) (string, error) {
	var b strings.Builder
	var c [1]byte
	for {
		if _, err := io.ReadFull(r, c[:]); err != nil {
			return "", err
		}
		if c[0] == 0 {
			return b.String(), nil
		}
		if b.Len() == maxSOCKSField {
			return "", &SOCKSError{Version: 4, Reason: fmt.Sprintf("a user id or host name longer than %d bytes", maxSOCKSField)}
		}
		b.WriteByte(c[0])
	}
}

// reply answers the request: success, or the code that fits err, the
// gateway's refusal of the direct-tcpip channel.
func (r *socksRequest) reply(w io.Writer, err error) error {
	if r.version == 4 {
		code := byte(socks4Granted)
		if err != nil {
			code = socks4Rejected
		}
		return writeSOCKS4Reply(w, code)
	}
	code := byte(socks5Succeeded)
	if err != nil {
		code = socks5Code(err)
	}
	return writeSOCKS5Reply(w, code)
}

// socks5Code maps a refused direct-tcpip channel to a SOCKS5 reply.
func socks5Code(err error) byte {
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) {
		return socks5GeneralFailure
	}
	switch oe.Reason {
	case ssh.Prohibited:
		return socks5NotAllowed
	case ssh.ConnectionFailed:
		if strings.Contains(strings.ToLower(oe.Message), "refused") {
			return socks5ConnRefused
		}
		return socks5HostUnreachable
	}
	return socks5GeneralFailure
}

// writeSOCKS5Reply sends a reply with an all-zero bound address, as
// OpenSSH does: the gateway's end of the channel is not ours to name.
func writeSOCKS5Reply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
	return err
}

func writeSOCKS4Reply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{0, code, 0, 0, 0, 0, 0, 0})
	return err
}
