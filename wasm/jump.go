//go:build js && wasm

package main

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall/js"

	"golang.org/x/crypto/ssh"

	"tunnelkit/tunnel"
)

// jumpHop is one entry of connect's jump option: a jump host the session
// passes through on its way to the gateway (ssh -J). Only the first hop is
// reached through the relay; each hop opens the way to the next.
type jumpHop struct {
	host, user, password, privateKey, passphrase, hostKey string
	port                                                  int
}

func (h *jumpHop) addr() string { return net.JoinHostPort(h.host, strconv.Itoa(h.port)) }

// parseJumpOption reads jump: [{host, port, user, password | privateKey,
// passphrase, hostKey}, ...]; absent or empty is no jump host.
func parseJumpOption(v js.Value) ([]jumpHop, error) {
	if v.Type() == js.TypeUndefined || v.Type() == js.TypeNull {
		return nil, nil
	}
	if !jsGlobal.Get("Array").Call("isArray", v).Bool() {
		return nil, errors.New("connect: jump must be an array of {host, port, user, password | privateKey, hostKey}")
	}
	hops := make([]jumpHop, v.Length())
	for i := range hops {
		if err := hops[i].parse(v.Index(i)); err != nil {
			return nil, errors.New("connect: jump[" + strconv.Itoa(i) + "]: " + err.Error())
		}
	}
	return hops, nil
}

func (h *jumpHop) parse(v js.Value) error {
	if v.Type() != js.TypeObject {
		return errors.New("expected an object {host, user, ...}")
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"host", &h.host}, {"user", &h.user}, {"password", &h.password}, {"privateKey", &h.privateKey},
		{"passphrase", &h.passphrase}, {"hostKey", &h.hostKey}} {
		switch x := v.Get(f.name); x.Type() {
		case js.TypeUndefined, js.TypeNull:
		case js.TypeString:
			*f.dst = x.String()
		default:
			return errors.New(f.name + " must be a string")
		}
	}
	h.port = 22
	switch p := v.Get("port"); p.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeNumber:
		h.port = p.Int()
	case js.TypeString:
		n, err := strconv.Atoi(p.String())
		if err != nil {
			n = -1
		}
		h.port = n
	default:
		h.port = -1
	}
	h.host = strings.TrimSuffix(strings.TrimPrefix(h.host, "["), "]")
	switch {
	case h.host == "":
		return errors.New("host is required")
	case h.port < 1 || h.port > 65535:
		return errors.New("port must be 1-65535")
	case h.user == "":
		return errors.New("user is required")
	case h.password == "" && h.privateKey == "":
		return errors.New("give password or privateKey")
	}
	if h.hostKey != "" {
		h.hostKey = normalizeFingerprint(h.hostKey)
	}
	return nil
}

// firstAddr is where the relay dials: the first jump host, else the gateway.
func (o *connectOptions) firstAddr() string {
	if len(o.jump) > 0 {
		return o.jump[0].addr()
	}
	return o.addr()
}

// jumpHosts turns the jump option into tunnel's hops. Each hop's key is
// pinned by its hostKey, else asked of onHostKey (with the hop's
// host:port), else refused.
func (o *connectOptions) jumpHosts() ([]tunnel.JumpHost, error) {
	var hops []tunnel.JumpHost
	for i := range o.jump {
		h := &o.jump[i]
		j := tunnel.JumpHost{Addr: h.addr(), User: h.user, Password: h.password,
			HostKey: tunnel.HostKeyPolicy{Fingerprint: h.hostKey}}
		if h.privateKey != "" {
			signer, err := tunnel.ParsePrivateKey([]byte(h.privateKey), []byte(h.passphrase))
			if err != nil {
				return nil, wrap("jump host "+h.addr(), err)
			}
			j.Signers = []ssh.Signer{signer}
		}
		if h.hostKey == "" && o.onHostKey.Type() == js.TypeFunction {
			j.HostKey.Confirm = o.confirmHostKey
		}
		hops = append(hops, j)
	}
	return hops, nil
}

// jumpArg is ssh's -J argument for the equivalent command ("" for none).
func (o *connectOptions) jumpArg() string {
	var parts []string
	for _, h := range o.jump {
		s := h.user + "@" + h.host
		if strings.Contains(h.host, ":") {
			s = h.user + "@[" + h.host + "]"
		}
		if h.port != 22 {
			s += ":" + strconv.Itoa(h.port)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}
