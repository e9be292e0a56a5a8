//go:build js && wasm

package main

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall/js"
)

// connectOptions are the fields of tunnelkit.connect's argument.
type connectOptions struct {
	relay      string
	host       string
	port       int
	user       string
	password   string
	privateKey string
	passphrase string
	hostKey    string
	token      string
	onHostKey  js.Value         // async (fingerprint) => boolean
	onEvent    js.Value         // (event) => void
	jump       []jumpHop        // jump hosts, first hop first (see jump.go)
	re         reconnectOptions // see reconnect.go
}

func (o *connectOptions) addr() string { return net.JoinHostPort(o.host, strconv.Itoa(o.port)) }

func parseConnectOptions(v js.Value) (*connectOptions, error) {
	if v.Type() != js.TypeObject {
		return nil, errors.New("connect: expected an options object {host, user, ...}")
	}
	o := &connectOptions{port: 22}
	var err error
	str := func(name string, dst *string) {
		if err != nil {
			return
		}
		switch f := v.Get(name); f.Type() {
		case js.TypeUndefined, js.TypeNull:
		case js.TypeString:
			*dst = f.String()
		default:
			err = errors.New("connect: option " + name + " must be a string")
		}
	}
	fn := func(name string, dst *js.Value) {
		if err != nil {
			return
		}
		switch f := v.Get(name); f.Type() {
		case js.TypeUndefined, js.TypeNull:
		case js.TypeFunction:
			*dst = f
		default:
			err = errors.New("connect: option " + name + " must be a function")
		}
	}
	str("relay", &o.relay)
	str("host", &o.host)
	str("user", &o.user)
	str("password", &o.password)
	str("privateKey", &o.privateKey)
	str("passphrase", &o.passphrase)
	str("hostKey", &o.hostKey)
	str("token", &o.token)
	fn("onHostKey", &o.onHostKey)
	fn("onEvent", &o.onEvent)
	if err != nil {
		return nil, err
	}
	switch p := v.Get("port"); p.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeNumber:
		o.port = p.Int()
	case js.TypeString:
		if o.port, err = strconv.Atoi(p.String()); err != nil {
			o.port = -1
		}
	default:
		o.port = -1
	}
	switch {
	case o.host == "":
		return nil, errors.New("connect: host is required (the SSH gateway, e.g. \"127.0.0.1\")")
	case o.port < 1 || o.port > 65535:
		return nil, errors.New("connect: port must be 1-65535")
	case o.user == "":
		return nil, errors.New("connect: user is required")
	case o.password == "" && o.privateKey == "":
		return nil, errors.New("connect: give password or privateKey")
	}
	o.host = strings.TrimSuffix(strings.TrimPrefix(o.host, "["), "]")
	if o.hostKey != "" {
		o.hostKey = normalizeFingerprint(o.hostKey)
	}
	if o.relay, err = relayURL(o.relay); err != nil {
		return nil, err
	}
	if o.jump, err = parseJumpOption(v.Get("jump")); err != nil {
		return nil, err
	}
	if o.re, err = parseReconnectOptions(v); err != nil {
		return nil, err
	}
	return o, nil
}

// normalizeFingerprint accepts "SHA256:abc", "abc" and padded base64 alike.
func normalizeFingerprint(fp string) string {
	fp = strings.TrimRight(strings.TrimSpace(fp), "=")
	if !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp
	}
	return fp
}

// relayURL resolves the relay option against the page's address: absent, it
// is the page's own origin; "/prefix" and other relative forms work too.
func relayURL(relay string) (string, error) {
	loc := jsGlobal.Get("location")
	if loc.Type() != js.TypeObject {
		if relay == "" {
			return "", errors.New("connect: relay is required outside a web page (e.g. \"ws://127.0.0.1:8080\")")
		}
		return relay, nil
	}
	if relay == "" {
		return loc.Get("origin").String(), nil
	}
	var u js.Value
	if _, err := protect(func() (any, error) {
		u = jsGlobal.Get("URL").New(relay, loc.Get("href"))
		return nil, nil
	}); err != nil {
		return "", errors.New("connect: relay " + strconv.Quote(relay) + " is not a URL: " + err.Error())
	}
	return strings.TrimSuffix(u.Get("href").String(), "/"), nil
}
