package relay

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"tunnelkit/relay/wire"
)

// Token is a bearer token and what it may reach beyond the relay-wide rules.
type Token struct {
	Name   string // for the audit log; default "token-" + 8 hex of its SHA-256
	Secret string
	// SHA256 is the token's SHA-256 in hex, instead of Secret: a token
	// file need not hold the token itself.
	SHA256 string
	Allow  []string
	// AllowListen are the token's listen rules.
	AllowListen []string
}

type token struct {
	name    string
	hash    [sha256.Size]byte
	allow   policy // relay-wide rules plus the token's own
	allowLn policy
}

const (
	tokenCookie = "tunnelkit_token"
	minTokenLen = 16
	// ShortToken is the length under which a token is weak: fewer than
	// 128 bits if it is hex. Callers warn about such tokens.
	ShortToken   = 32
	sha256Prefix = "sha256:"
)

var (
	errNoToken    = errors.New("this relay needs a token: offer subprotocol " + wire.TokenPrefix + "<TOKEN> or cookie " + tokenCookie)
	errWrongToken = errors.New("wrong token")
)

// compileTokens checks tokens; each may reach its own targets on top of
// everyone's allow and allowLn.
func compileTokens(ts []Token, everyone, everyoneLn policy) ([]*token, error) {
	var out []*token
	for i, t := range ts {
		hash, err := t.hash()
		if err != nil {
			return nil, fmt.Errorf("token %d: %w", i+1, err)
		}
		allow, err := parsePolicy(t.Allow)
		if err != nil {
			return nil, fmt.Errorf("token %d: %w", i+1, err)
		}
		allowLn, err := parsePolicy(t.AllowListen)
		if err != nil {
			return nil, fmt.Errorf("token %d: %w", i+1, err)
		}
		ct := &token{
			name:    t.Name,
			hash:    hash,
			allow:   append(append(policy{}, everyone...), allow...),
			allowLn: append(append(policy{}, everyoneLn...), allowLn...),
		}
		if ct.name == "" {
			ct.name = "token-" + hex.EncodeToString(ct.hash[:4])
		}
		out = append(out, ct)
	}
	return out, nil
}

// hash is the token's SHA-256, from SHA256 or from the checked Secret.
func (t Token) hash() ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if t.SHA256 == "" {
		if err := checkSecret(t.Secret); err != nil {
			return h, err
		}
		return sha256.Sum256([]byte(t.Secret)), nil
	}
	if t.Secret != "" {
		return h, errors.New("give the token or its SHA-256, not both")
	}
	b, err := hex.DecodeString(t.SHA256)
	if err != nil || len(b) != sha256.Size {
		return h, fmt.Errorf("SHA-256 %q: want %d hex digits", truncate(t.SHA256, 80), 2*sha256.Size)
	}
	return [sha256.Size]byte(b), nil
}

// checkSecret keeps secrets long enough and safe to carry in a
// Sec-WebSocket-Protocol header or a cookie.
func checkSecret(s string) error {
	if len(s) < minTokenLen {
		return fmt.Errorf("too short (want at least %d characters, e.g. from `openssl rand -hex 32`)", minTokenLen)
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != '~' {
			return fmt.Errorf("has %q: use only letters, digits and -_.~", c)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// authenticate finds the request's token, if the relay has any. It returns
// (nil, nil) when the relay needs none.
func (r *Relay) authenticate(req *http.Request) (*token, error) {
	tokens := r.live().tokens
	if len(tokens) == 0 {
		return nil, nil
	}
	secret, ok := presentedToken(req)
	if !ok {
		return nil, errNoToken
	}
	return findToken(tokens, secret)
}

// findToken finds the token whose hash is secret's, comparing in constant
// time.
func findToken(tokens []*token, secret string) (*token, error) {
	h := sha256.Sum256([]byte(secret))
	var found *token
	for _, t := range tokens { // no early exit: same work for every token
		if subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1 {
			found = t
		}
	}
	if found == nil {
		return nil, errWrongToken
	}
	return found, nil
}

// presentedToken reads the token from an offered subprotocol or the cookie.
// Never from the URL: URLs end up in logs.
func presentedToken(req *http.Request) (string, bool) {
	for _, v := range req.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(p), wire.TokenPrefix); ok && s != "" {
				return s, true
			}
		}
	}
	if c, err := req.Cookie(tokenCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// ParseTokenFile reads tokens, one per line: the secret, or "sha256:HEX"
// (its SHA-256), then optional "name=NAME", then the rules that token may
// use ("RULE" to dial, "listen=RULE" to listen); "#" starts a comment.
func ParseTokenFile(rd io.Reader) ([]Token, error) {
	var out []Token
	sc := bufio.NewScanner(rd)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(stripComment(sc.Text()))
		if len(fields) == 0 {
			continue
		}
		t := Token{Secret: fields[0]}
		if h, ok := strings.CutPrefix(fields[0], sha256Prefix); ok {
			t = Token{SHA256: strings.ToLower(h)}
		}
		if _, err := t.hash(); err != nil {
			return nil, fmt.Errorf("line %d: token %w", n, err)
		}
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(f, "name="); ok {
				t.Name = v
				continue
			}
			dst := &t.Allow
			if v, ok := strings.CutPrefix(f, "listen="); ok {
				f, dst = v, &t.AllowListen
			}
			if _, err := parseRule(f); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			*dst = append(*dst, f)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}
