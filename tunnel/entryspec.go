package tunnel

import (
	"fmt"
	"strings"
)

// entryForm is what ParseRemoteEntry takes.
const entryForm = "-R [bind_address:]port"

// ParseRemoteEntry parses the entry socket of a -R whose exit is the
// caller (ListenRemote): "-R 8080", "-R 0.0.0.0:0", "-R [::1]:8080",
// "-R *:8080", or the same without "-R". An empty address, like "*",
// means all interfaces; none means "localhost" (see ListenRemote).
func ParseRemoteEntry(s string) (host string, port int, err error) {
	flag, rest := splitFlag(strings.TrimSpace(s))
	if flag == Local {
		return "", 0, fmt.Errorf("bad entry %q: it says -L, but the page can only listen through the gateway: want %s", s, entryForm)
	}
	fields, ok := splitColons(rest)
	if !ok {
		return "", 0, fmt.Errorf("bad entry %q: unbalanced [ ] around an address: want %s", s, entryForm)
	}
	switch len(fields) {
	case 1:
	case 2:
		host = fields[0]
		if host == "" {
			host = "*"
		}
		if host != "*" {
			if why := checkHost(host); why != "" {
				return "", 0, fmt.Errorf("bad entry %q: bind_address %s: want %s", s, why, entryForm)
			}
		}
	default:
		return "", 0, fmt.Errorf("bad entry %q: want %s (the exit is the page itself, so no host:hostport)", s, entryForm)
	}
	port, why := parsePort(fields[len(fields)-1], "port")
	if why != "" {
		return "", 0, fmt.Errorf("bad entry %q: %s: want %s", s, why, entryForm)
	}
	return host, port, nil
}
