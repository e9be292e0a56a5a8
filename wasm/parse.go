//go:build js && wasm

package main

import (
	"net/netip"
	"strconv"
	"strings"
	"syscall/js"

	"tunnelkit/tunnel"
)

// parseForward is tunnelkit.parseForward(text, options?): the page's forward
// editor asks Go, which owns the syntax, so the page accepts exactly what
// s.forward and `tunnelkit ssh` accept. It is synchronous (pure Go) and
// returns {kind, spec, command, explanation} or throws an Error whose hint
// says what to change. See tunnelkit.d.ts for the options.
//
// A Go function called from JavaScript cannot throw (a panic ends the
// program), so this returns the Error and the loader's wrapper
// (web/static/loader.js) throws it.
func parseForward(_ js.Value, args []js.Value) any {
	text, opts := arg(args, 0), arg(args, 1)
	if text.Type() != js.TypeString {
		return jsError.New(`parseForward: expected a string such as "-L 8080:db:5432"`)
	}
	o := parseOptions(opts)
	spec, err := parseWithKind(o.kind, text.String())
	if err != nil {
		e := newError(err)
		hint, fixed := specHint(o.kind, text.String())
		e.Set("hint", hint)
		if fixed != "" {
			e.Set("suggestion", fixed)
		}
		return e
	}
	r := jsObject.New()
	r.Set("kind", string(rune(spec.Kind)))
	r.Set("spec", spec.String())
	r.Set("command", spec.Command(o.user, o.host, o.port))
	r.Set("explanation", explain(spec, o.gateway()))
	r.Set("entryHost", spec.EntryHost)
	r.Set("entryPort", spec.EntryPort)
	r.Set("exitHost", spec.ExitHost)
	r.Set("exitPort", spec.ExitPort)
	r.Set("entry", spec.EntryAddr())
	r.Set("exit", spec.ExitAddr())
	return r
}

// parseOpts are parseForward's options: the kind when the text has no flag,
// and the gateway the command and explanation name.
type parseOpts struct {
	kind       tunnel.Kind
	user, host string
	port       int
}

func parseOptions(v js.Value) parseOpts {
	o := parseOpts{user: "USER", host: "GATEWAY"}
	if v.Type() != js.TypeObject {
		return o
	}
	if k := v.Get("kind"); k.Type() == js.TypeString {
		switch strings.TrimPrefix(k.String(), "-") {
		case "L":
			o.kind = tunnel.Local
		case "R":
			o.kind = tunnel.Remote
		case "D":
			o.kind = tunnel.Dynamic
		}
	}
	if u := v.Get("user"); u.Type() == js.TypeString {
		o.user = u.String()
	}
	if h := v.Get("host"); h.Type() == js.TypeString && h.String() != "" {
		o.host = h.String()
	}
	switch p := v.Get("port"); p.Type() {
	case js.TypeNumber:
		o.port = p.Int()
	case js.TypeString:
		o.port, _ = strconv.Atoi(p.String())
	}
	return o
}

func (o parseOpts) gateway() string {
	if o.host == "GATEWAY" {
		return "the gateway"
	}
	if o.port == 0 || o.port == 22 {
		return o.host
	}
	return o.host + " (port " + strconv.Itoa(o.port) + ")"
}

// parseWithKind parses text as `tunnelkit ssh -L text` does when kind is
// set and text has no flag of its own; a flag typed in the text wins (the
// page's direction selector follows it).
func parseWithKind(kind tunnel.Kind, text string) (tunnel.Spec, error) {
	if kind == 0 || hasFlag(strings.TrimSpace(text)) {
		return tunnel.ParseForward(text)
	}
	return tunnel.ParseSpec(kind, text)
}

// hasFlag reports whether s starts with "-L", "-R", "-D", "L ", "R " or
// "D ", the forms tunnel.ParseSpec reads as a flag.
func hasFlag(s string) bool {
	if len(s) < 2 {
		return false
	}
	isKind := s[1] == 'L' || s[1] == 'R' || s[1] == 'D'
	if s[0] == '-' {
		return isKind
	}
	return (s[0] == 'L' || s[0] == 'R' || s[0] == 'D') && (s[1] == ' ' || s[1] == '\t')
}

// specHint says in a person's words what to change in a spec the parser
// refused, and returns the corrected spec when there is exactly one obvious
// fix (an IPv6 address written without brackets).
func specHint(kind tunnel.Kind, text string) (hint, fixed string) {
	t := strings.TrimSpace(text)
	flag := ""
	if hasFlag(t) {
		if t[0] == '-' {
			flag, t = t[:2], strings.TrimSpace(t[2:])
		} else {
			flag, t = "-"+t[:1], strings.TrimSpace(t[1:])
		}
	}
	if kind == 0 && flag == "" {
		return "Start with -L (local forward), -R (remote forward) or -D (SOCKS proxy), e.g. -L 8080:db.internal:5432 or -D 1080.", ""
	}
	if flag == "-D" || (flag == "" && kind == tunnel.Dynamic) {
		return dynamicHint(kind, flag, t)
	}
	if t == "" {
		return "Type a forward: [entry address:]entry port:exit host:exit port, e.g. 8080:db.internal:5432.", ""
	}
	if s := bracketIPv6(kind, flag, t); s != "" {
		return "Put IPv6 addresses in brackets: " + s + ".", s
	}
	n := len(strings.Split(t, ":"))
	if strings.Contains(t, "/") {
		n = len(strings.Split(t, "/"))
	}
	switch {
	case strings.ContainsAny(t, " \t"):
		return "Remove the spaces: a forward is [entry address:]entry port:exit host:exit port.", ""
	case n < 3:
		return "Give both sockets: entry port, exit host and exit port, e.g. 8080:db.internal:5432.", ""
	case n > 4 && !strings.Contains(t, "["):
		return "A forward has three or four parts: [entry address:]entry port:exit host:exit port. Put IPv6 addresses in brackets.", ""
	}
	return "Check the forward: [entry address:]entry port:exit host:exit port, ports 0-65535 for the entry and 1-65535 for the exit.", ""
}

// dynamicHint is specHint for a -D, whose spec is only the entry socket:
// [entry address:]port.
func dynamicHint(kind tunnel.Kind, flag, t string) (hint, fixed string) {
	const form = "a SOCKS forward (-D) is [entry address:]port, e.g. 1080 or 127.0.0.1:1080"
	if t == "" {
		return "Type the port the SOCKS proxy listens on: " + form + ".", ""
	}
	if s := bracketIPv6(kind, flag, t); s != "" {
		return "Put IPv6 addresses in brackets: " + s + ".", s
	}
	f := strings.Split(t, ":")
	if strings.Contains(t, "/") {
		f = strings.Split(t, "/")
	} else if i := strings.IndexByte(t, ']'); t[0] == '[' && i > 0 && !strings.Contains(t[i+1:], "]") {
		f = []string{t[1:i], strings.TrimPrefix(t[i+1:], ":")}
	}
	switch {
	case strings.ContainsAny(t, " \t"):
		return "Remove the spaces: " + form + ".", ""
	case len(f) >= 3 && !strings.Contains(t, "["):
		return "Give only the entry socket, the SOCKS client names each exit: " + form + ". Put IPv6 addresses in brackets.", ""
	case len(f) >= 3:
		return "Give only the entry socket, the SOCKS client names each exit: " + form + ".", ""
	}
	port := f[len(f)-1]
	if port == "" {
		return "Give the port the SOCKS proxy listens on: " + form + ".", ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 {
		return "The port " + strconv.Quote(port) + " is not a number: " + form + ".", ""
	} else if n > 65535 {
		return "Port " + port + " is out of range 0-65535 (0 picks a free one): " + form + ".", ""
	}
	if len(f) == 2 {
		return "The entry address " + strconv.Quote(strings.Trim(f[0], "[]")) + " is not a host name or IP address: " + form + ".", ""
	}
	return "Check the entry socket: " + form + ", port 0-65535 (0 picks a free one).", ""
}

// bracketIPv6 finds the one way to read t as [bind:]port:host:hostport with
// IPv6 addresses left unbracketed, and returns it bracketed ("" if none).
func bracketIPv6(kind tunnel.Kind, flag, t string) string {
	if strings.ContainsAny(t, "[]/") {
		return ""
	}
	f := strings.Split(t, ":")
	dynamic := flag == "-D" || (flag == "" && kind == tunnel.Dynamic)
	if len(f) <= 4 && !(dynamic && len(f) > 2) {
		return ""
	}
	isV6 := func(s string) bool {
		a, err := netip.ParseAddr(s)
		return err == nil && a.Is6() && strings.Contains(s, ":")
	}
	group := func(parts []string) string {
		s := strings.Join(parts, ":")
		if strings.Contains(s, ":") {
			if !isV6(s) {
				return ""
			}
			return "[" + s + "]"
		}
		return s
	}
	var found []string
	try := func(s string) {
		if _, err := parseWithKind(kind, flagged(flag, s)); err == nil {
			found = append(found, s)
		}
	}
	last := len(f) - 1
	if dynamic {
		// -D has one address: [bind]:port.
		if b := group(f[:last]); b != "" {
			try(b + ":" + f[last])
		}
		if len(found) != 1 {
			return ""
		}
		return flagged(flag, found[0])
	}
	if h := group(f[1:last]); h != "" {
		try(f[0] + ":" + h + ":" + f[last])
	}
	for i := 1; i+2 <= last; i++ {
		b, h := group(f[:i]), group(f[i+1:last])
		if b != "" && h != "" {
			try(b + ":" + f[i] + ":" + h + ":" + f[last])
		}
	}
	if len(found) != 1 {
		return ""
	}
	return flagged(flag, found[0])
}

func flagged(flag, s string) string {
	if flag == "" {
		return s
	}
	return flag + " " + s
}

// explain says in words what a forward does, as the page's editor shows it.
func explain(s tunnel.Spec, gateway string) string {
	port := "port " + strconv.Itoa(s.EntryPort)
	if s.EntryPort == 0 {
		port = "a free port"
	}
	addr := s.EntryHost
	switch addr {
	case "":
		addr = "localhost"
	case "*":
		addr = "all interfaces"
	}
	entry := port + " on " + addr
	switch s.Kind {
	case tunnel.Dynamic:
		return "Dynamic forward (SOCKS): the entry socket, " + entry + " of the relay host, is a SOCKS proxy (SOCKS5 and SOCKS4); " +
			"each connection is carried through " + gateway + ", which opens the exit socket the SOCKS client asks for " +
			"(host names are resolved by the gateway)."
	case tunnel.Local:
		return "Local forward: the relay host listens on " + entry + "; each connection is carried through " +
			gateway + ", which opens " + s.ExitAddr() + "."
	}
	return "Remote forward: " + gateway + " listens on " + entry +
		"; each connection comes back through this page and the relay opens " + s.ExitAddr() + "."
}
