package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// jumpSpec is one hop of -J or ProxyJump: [user@]host[:port].
type jumpSpec struct {
	user string // "" for the default
	host string
	port int // 0 for the default
}

func (j jumpSpec) String() string {
	s := j.host
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if j.port != 0 {
		s += ":" + strconv.Itoa(j.port)
	}
	if j.user != "" {
		s = j.user + "@" + s
	}
	return s
}

// parseJumps reads "[user@]host[:port][,[user@]host[:port]...]"; IPv6
// hosts go in brackets. "none" is no jump host, as in ssh_config.
func parseJumps(s string) ([]jumpSpec, error) {
	if s == "" || strings.EqualFold(s, "none") {
		return nil, nil
	}
	var hops []jumpSpec
	for _, part := range strings.Split(s, ",") {
		j, err := parseJump(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("bad jump host %q in %q: %v: want [user@]host[:port][,...]", part, s, err)
		}
		hops = append(hops, j)
	}
	return hops, nil
}

func parseJump(s string) (jumpSpec, error) {
	var j jumpSpec
	s = strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndex(s, "@"); i >= 0 {
		j.user, s = s[:i], s[i+1:]
		if j.user == "" {
			return j, fmt.Errorf("empty user")
		}
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	} else if strings.Count(s, ":") > 1 && net.ParseIP(s) == nil {
		return j, fmt.Errorf("an IPv6 address with a port goes in brackets")
	}
	if host == "" || strings.ContainsAny(host, " /[]@") {
		return j, fmt.Errorf("bad host")
	}
	j.host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return j, fmt.Errorf("bad port %q", port)
		}
		j.port = n
	}
	return j, nil
}
