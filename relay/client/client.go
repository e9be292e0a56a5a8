// Package client speaks the tunnelkit relay protocol (relay/PROTOCOL.md)
// from the other end: Dial opens a TCP connection through the relay's dial
// bridge, Listen binds a port on the relay host through its listen bridge.
// Both return ordinary net.Conn and net.Listener values, natively and in the
// browser (GOOS=js), where the relay URL may be relative to the page and ""
// means the server the page came from.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"tunnelkit/relay/wire"
)

// Options configures Dial and Listen. A nil *Options means the defaults.
type Options struct {
	// Token authenticates to a relay started with tokens; it travels as the
	// subprotocol tunnelkit.token.<Token>, never in the URL.
	Token string

	// Origin is sent as the Origin header (native only; browsers set their
	// own). Leave empty unless the relay expects one.
	Origin string

	// Resume asks for a resumable dial stream: when its WebSocket drops,
	// the conn re-attaches to the relay's stream within the relay's resume
	// window and replays what was not acknowledged, so the bytes go on
	// exactly. Past the window the conn fails with a *ResumeError. For
	// Listen, the control stream resumes with the listener and every
	// connection on it; past the window Accept fails with a *ResumeError.
	Resume bool
}

// Dial connects to target ("HOST:PORT") through the relay's dial bridge.
// ctx bounds the dial only, as with net.Dialer. The returned net.Conn is a
// *Conn: CloseWrite half-closes it. A refusal by the relay is a *CloseError
// carrying the relay's reason.
func Dial(ctx context.Context, relayURL, target string, o *Options) (net.Conn, error) {
	if o != nil && o.Resume {
		return dialResumable(ctx, relayURL, target, o)
	}
	t, m, err := openStream(ctx, relayURL, "dial", url.Values{"target": {target}}, o)
	if err != nil {
		return nil, fmt.Errorf("dial %s through relay: %w", target, err)
	}
	if m.Type != wire.TypeOpen {
		t.close(wire.CloseBadRequest, "expected open")
		return nil, fmt.Errorf("dial %s through relay: got %q message, want open (is the relay tunnelkit v1?)", target, m.Type)
	}
	return newConn(t, tcpAddr(m.Addr), relayAddr(relayURL), m.Max), nil
}

// openStream opens the WebSocket for endpoint (dial, listen or accept) and
// returns its first control message. If the relay closes the stream
// instead, the error is a *CloseError.
func openStream(ctx context.Context, relayURL, endpoint string, q url.Values, o *Options) (transport, wire.Message, error) {
	if o == nil {
		o = &Options{}
	}
	if flowWindow > 0 && endpoint != "listen" && endpoint != "resume" && q.Get(wire.ResumeParam) == "" {
		// Only where the transport cannot push back on the relay (the
		// browser); a relay too old to know flow control ignores it.
		q.Set("flow", strconv.Itoa(flowWindow))
	}
	u, err := endpointURL(relayURL, endpoint, q)
	if err != nil {
		return nil, wire.Message{}, err
	}
	protocols := []string{wire.Subprotocol}
	if o.Token != "" {
		if !validToken(o.Token) {
			return nil, wire.Message{}, errors.New("token has characters a WebSocket subprotocol cannot carry (use letters, digits and -._~+)")
		}
		protocols = append(protocols, wire.TokenPrefix+o.Token)
	}
	t, err := dialTransport(ctx, u, protocols, o)
	if err != nil {
		return nil, wire.Message{}, err
	}
	if p := t.subprotocol(); p != wire.Subprotocol {
		t.close(wire.CloseBadRequest, "subprotocol "+wire.Subprotocol+" not selected")
		return nil, wire.Message{}, fmt.Errorf("%s did not select subprotocol %s (got %q): is it a tunnelkit relay?", redact(u), wire.Subprotocol, p)
	}
	m, err := readControl(ctx, t)
	if err != nil {
		t.close(wire.CloseBadRequest, "")
		return nil, wire.Message{}, err
	}
	t.setRelayMax(m.Max)
	if m.Flow > 0 && endpoint != "listen" {
		// A listen stream's flow and credit are per accepted
		// connection (mux.go), not for the stream itself.
		t.setFlow(m.Flow, m.Credit) // credit 0: sending is not windowed
	}
	return t, m, nil
}

// readControl waits for the next text message, skipping nothing: on a fresh
// stream the relay speaks first, in text.
func readControl(ctx context.Context, t transport) (wire.Message, error) {
	text, r, err := t.next(ctx)
	if err != nil {
		return wire.Message{}, err
	}
	if !text {
		return wire.Message{}, errors.New("relay sent data before its control message (is it a tunnelkit v1 relay?)")
	}
	// Read the whole message: the next one starts where this one ends.
	b, err := io.ReadAll(io.LimitReader(r, wire.MaxControl+1))
	if err != nil {
		return wire.Message{}, err
	}
	if len(b) > wire.MaxControl {
		return wire.Message{}, fmt.Errorf("relay sent a control message over %d bytes", wire.MaxControl)
	}
	var m wire.Message
	if err := json.Unmarshal(b, &m); err != nil {
		return wire.Message{}, fmt.Errorf("relay sent a malformed control message: %v", err)
	}
	return m, nil
}

// endpointURL maps relayURL (ws, wss, http or https, possibly with a path
// prefix; under js also relative to the page) to the endpoint's URL.
func endpointURL(relayURL, endpoint string, q url.Values) (string, error) {
	u, err := resolveRelayURL(relayURL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("relay URL %q: scheme must be ws, wss, http or https", relayURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("relay URL %q has no host (want ws://HOST:PORT or wss://HOST/PREFIX)", relayURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/" + endpoint
	u.RawPath = ""
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.String(), nil
}

// validToken reports whether tok fits in a Sec-WebSocket-Protocol token.
func validToken(tok string) bool {
	for _, c := range tok {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.ContainsRune("-._~+!#$%&'*^`|", c):
		default:
			return false
		}
	}
	return true
}

// redact drops the query (targets, ids) from u for error messages.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// tcpAddr turns the relay's "IP:PORT" into a *net.TCPAddr; anything else
// stays an opaque address.
func tcpAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return addr{"tcp", s}
}

func relayAddr(relayURL string) net.Addr { return addr{"websocket", relayURL} }

type addr struct{ network, s string }

func (a addr) Network() string { return a.network }
func (a addr) String() string  { return a.s }
