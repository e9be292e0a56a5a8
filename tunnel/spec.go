package tunnel

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Kind says which side owns the entry socket.
type Kind byte

const (
	Local  Kind = 'L' // -L: the client listens on the entry socket, the gateway dials the exit.
	Remote Kind = 'R' // -R: the gateway listens on the entry socket, the client dials the exit.
	// -D: the client listens on the entry socket and speaks SOCKS there; the
	// gateway dials the exit each SOCKS client asks for.
	Dynamic Kind = 'D'
)

func (k Kind) String() string {
	switch k {
	case Local, Remote, Dynamic:
		return "-" + string(rune(k))
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

// Spec is one parsed forward: "-L [entry address:]entry port:exit host:exit port",
// or "-D [entry address:]entry port", which has no exit of its own.
type Spec struct {
	Kind      Kind
	EntryHost string // as written: "" (default), "*" (all interfaces, also for an empty address), "localhost", "::1", ...
	EntryPort int    // 0: let the listener pick
	ExitHost  string // "" for -D
	ExitPort  int    // 0 for -D
}

const (
	specForm        = "[bind_address:]port:host:hostport"
	dynamicSpecForm = "[bind_address:]port"
)

func formOf(k Kind) string {
	if k == Dynamic {
		return dynamicSpecForm
	}
	return specForm
}

// ParseSpec parses OpenSSH -L/-R/-D syntax, with or without the flag:
// "-L 8080:db:5432", "-L8080:db:5432", "L 8080:db:5432", or kind given and s
// being "[bind_address:]port:host:hostport" (IPv6 in brackets); for -D
// "[bind_address:]port" ("-D 1080", "-D 127.0.0.1:0", "-D [::1]:1080").
// OpenSSH's older slash form "[bind_address/]port/host/hostport" is
// accepted too. A kind of 0 means the flag must say it.
func ParseSpec(kind Kind, s string) (Spec, error) {
	flag, rest := splitFlag(strings.TrimSpace(s))
	switch {
	case kind != 0 && kind != Local && kind != Remote && kind != Dynamic:
		return Spec{}, fmt.Errorf("bad forward kind %v: want Local (-L), Remote (-R) or Dynamic (-D)", kind)
	case flag == 0 && kind == 0:
		return Spec{}, fmt.Errorf("bad forward %q: want -L or -R followed by %s, or -D followed by %s", s, specForm, dynamicSpecForm)
	case flag != 0 && kind != 0 && flag != kind:
		return Spec{}, fmt.Errorf("bad forward %q: it says %v but a %v forward was asked for", s, flag, kind)
	case flag != 0:
		kind = flag
	}
	parse := parseFields
	if kind == Dynamic {
		parse = parseDynamicFields
	}
	spec, why := parse(rest)
	if why != "" {
		return Spec{}, fmt.Errorf("bad %v spec %q: %s: want %s", kind, rest, why, formOf(kind))
	}
	spec.Kind = kind
	return spec, nil
}

// ParseForward parses "-L spec" / "-R spec" / "-D spec" where the flag names the kind.
func ParseForward(s string) (Spec, error) { return ParseSpec(0, s) }

// splitFlag splits "-L spec", "-Lspec" and "L spec" into kind and spec.
func splitFlag(s string) (Kind, string) {
	isKind := func(b byte) bool { return b == 'L' || b == 'R' || b == 'D' }
	if len(s) >= 2 && s[0] == '-' && isKind(s[1]) {
		return Kind(s[1]), strings.TrimSpace(s[2:])
	}
	if len(s) >= 2 && isKind(s[0]) && (s[1] == ' ' || s[1] == '\t') {
		return Kind(s[0]), strings.TrimSpace(s[1:])
	}
	return 0, s
}

// splitFields splits a spec at its colons (IPv6 in brackets kept whole)
// or, in OpenSSH's other form, at its slashes.
func splitFields(s string) (fields []string, why string) {
	if strings.Contains(s, "/") {
		fields = strings.Split(s, "/")
		for i, f := range fields {
			if len(f) >= 2 && f[0] == '[' && f[len(f)-1] == ']' {
				fields[i] = f[1 : len(f)-1]
			}
		}
		return fields, ""
	}
	fields, ok := splitColons(s)
	if !ok {
		return nil, "unbalanced [ ] around an address"
	}
	return fields, ""
}

// parseFields parses the part after the flag; why is empty on success.
func parseFields(s string) (spec Spec, why string) {
	if s == "" {
		return spec, "empty"
	}
	fields, why := splitFields(s)
	if why != "" {
		return spec, why
	}
	switch len(fields) {
	case 3:
	case 4:
		spec.EntryHost = fields[0]
		if spec.EntryHost == "" {
			spec.EntryHost = "*" // OpenSSH: an empty bind address means all interfaces
		}
		fields = fields[1:]
	default:
		return spec, fmt.Sprintf("%d fields", len(fields))
	}
	var err string
	if spec.EntryPort, err = parsePort(fields[0], "port"); err != "" {
		return spec, err
	}
	if spec.ExitPort, err = parsePort(fields[2], "hostport"); err != "" {
		return spec, err
	}
	if spec.ExitPort == 0 {
		return spec, "hostport 0: the exit port must be 1-65535"
	}
	spec.ExitHost = fields[1]
	if spec.ExitHost == "" {
		return spec, "empty host"
	}
	if why := checkHost(spec.ExitHost); why != "" {
		return spec, "host " + why
	}
	if spec.EntryHost != "*" && spec.EntryHost != "" {
		if why := checkHost(spec.EntryHost); why != "" {
			return spec, "bind_address " + why
		}
	}
	return spec, ""
}

// parseDynamicFields parses "[bind_address:]port" of a -D forward.
func parseDynamicFields(s string) (spec Spec, why string) {
	if s == "" {
		return spec, "empty"
	}
	fields, why := splitFields(s)
	if why != "" {
		return spec, why
	}
	switch len(fields) {
	case 1:
	case 2:
		spec.EntryHost = fields[0]
		if spec.EntryHost == "" {
			spec.EntryHost = "*"
		}
		fields = fields[1:]
	default:
		return spec, fmt.Sprintf("%d fields", len(fields))
	}
	var err string
	if spec.EntryPort, err = parsePort(fields[0], "port"); err != "" {
		return spec, err
	}
	if spec.EntryHost != "*" && spec.EntryHost != "" {
		if why := checkHost(spec.EntryHost); why != "" {
			return spec, "bind_address " + why
		}
	}
	return spec, ""
}

// splitColons splits at colons outside square brackets, like OpenSSH's
// parse_fwd_field: a bracketed field must be followed by ':' or the end.
func splitColons(s string) ([]string, bool) {
	var fields []string
	for {
		if strings.HasPrefix(s, "[") {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, false
			}
			fields = append(fields, s[1:end])
			s = s[end+1:]
			if s == "" {
				return fields, true
			}
			if s[0] != ':' {
				return nil, false
			}
			s = s[1:]
			continue
		}
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return append(fields, s), !strings.ContainsAny(s, "[]")
		}
		if strings.ContainsAny(s[:i], "[]") {
			return nil, false
		}
		fields = append(fields, s[:i])
		s = s[i+1:]
	}
}

func parsePort(s, name string) (int, string) {
	if s == "" {
		return 0, "empty " + name
	}
	if len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Sprintf("%s %q is not a number 0-65535", name, s)
	}
	n, _ := strconv.Atoi(s)
	if n > 65535 {
		return 0, fmt.Sprintf("%s %d is out of range 0-65535", name, n)
	}
	return n, ""
}

// checkHost accepts host names and IP addresses; an address with colons must
// be IPv6 (written in brackets in the colon form).
func checkHost(h string) string {
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '.', r == '-', r == '_', r == ':', r == '%':
		default:
			return fmt.Sprintf("%q has a bad character %q", h, r)
		}
	}
	if strings.ContainsAny(h, ":%") {
		if _, err := netip.ParseAddr(h); err != nil || !strings.Contains(h, ":") {
			return fmt.Sprintf("%q is not an IPv6 address", h)
		}
	}
	return ""
}

// String returns the canonical, re-parsable form, e.g. "-L 127.0.0.1:8080:db:5432".
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Kind.String())
	b.WriteByte(' ')
	if s.EntryHost != "" {
		b.WriteString(bracket(s.EntryHost))
		b.WriteByte(':')
	}
	b.WriteString(strconv.Itoa(s.EntryPort))
	if s.Kind == Dynamic {
		return b.String()
	}
	b.WriteByte(':')
	b.WriteString(bracket(s.ExitHost))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(s.ExitPort))
	return b.String()
}

func bracket(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// EntryAddr returns the entry socket to bind with defaults applied:
// "localhost:8080" when no address was given, ":8080" for "*".
func (s Spec) EntryAddr() string {
	host := s.EntryHost
	switch host {
	case "":
		host = "localhost"
	case "*":
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(s.EntryPort))
}

// ExitAddr returns the exit socket, e.g. "db:5432" or "[fd00::5]:80"; for
// -D, where each SOCKS client names its own, "".
func (s Spec) ExitAddr() string {
	if s.Kind == Dynamic {
		return ""
	}
	return net.JoinHostPort(s.ExitHost, strconv.Itoa(s.ExitPort))
}

// Command returns the equivalent OpenSSH command line,
// e.g. "ssh -N -L 8080:db:5432 -p 2222 alice@gateway". Port 0 and 22 are
// left out; the spec is quoted when a shell would expand it.
func (s Spec) Command(user, host string, port int) string { return s.CommandVia("", user, host, port) }

// CommandVia is Command through jump hosts: jump is ssh's -J argument,
// "[user@]host[:port][,...]" ("" for none).
func (s Spec) CommandVia(jump, user, host string, port int) string {
	flag, arg, _ := strings.Cut(s.String(), " ")
	if strings.ContainsAny(arg, "*[]?") {
		arg = "'" + arg + "'"
	}
	cmd := "ssh -N " + flag + " " + arg
	if jump != "" {
		if strings.ContainsAny(jump, "*[]?") {
			jump = "'" + jump + "'"
		}
		cmd += " -J " + jump
	}
	if port != 0 && port != 22 {
		cmd += " -p " + strconv.Itoa(port)
	}
	if user != "" {
		host = user + "@" + host
	}
	return cmd + " " + host
}
