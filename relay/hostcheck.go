package relay

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"tunnelkit/relay/resolve"
)

// hostRule is which Host headers the relay answers. A DNS-rebinding page
// reaches a relay on loopback under the attacker's own name, with a
// matching Origin: only the Host header gives it away. So without public
// hosts the relay answers names no attacker can point at it (IP literals,
// localhost, the name it was told to listen on) and refuses the rest.
type hostRule struct {
	public []string // when set, the only hosts answered
	listen string   // the host of the listen address, lower case
}

func newHostRule(cfg Config) hostRule {
	h := hostRule{public: append([]string(nil), cfg.PublicHosts...)}
	h.public = append(h.public, cfg.ExtraPublicHosts...)
	if cfg.PublicHost != "" {
		h.public = append(h.public, cfg.PublicHost)
	}
	h.listen = hostOf(cfg.ServedOn)
	return h
}

// hostOf is the lower-case host of a HOST:PORT address; "" if none.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return strings.ToLower(host)
}

// allows reports whether the relay answers requests for host (a Host
// header: HOST, HOST:PORT, [IPv6], [IPv6]:PORT).
func (h hostRule) allows(host string) bool {
	if len(h.public) > 0 {
		for _, want := range h.public {
			if hostMatches(host, want) {
				return true
			}
		}
		return false
	}
	name, ok := hostOnly(host)
	if !ok {
		return false
	}
	name = strings.ToLower(name)
	if name == "localhost" || name == "localhost." || (h.listen != "" && name == h.listen) {
		return true
	}
	parsed, err := resolve.ParseHost(name)
	return err == nil && parsed.IsAddr()
}

// hostOnly strips the port from a Host header; false when it is malformed.
func hostOnly(host string) (string, bool) {
	port := ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 || (end+1 < len(host) && host[end+1] != ':') {
			return "", false
		}
		host, port = host[1:end], host[end+1:]
		if !strings.Contains(host, ":") {
			return "", false
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if strings.Contains(host[:i], ":") {
			return "", false // unbracketed IPv6
		}
		host, port = host[:i], host[i:]
	}
	if port != "" {
		if _, err := resolve.ParsePort(port[1:]); err != nil {
			return "", false
		}
	}
	return host, host != ""
}

// checkHost refuses, with 421 and before any upgrade, requests for a Host
// the relay does not answer.
func (r *Relay) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.hosts.allows(req.Host) {
			r.metrics.refusals.WithLabelValues("host").Inc()
			r.log.Warn("refused", "reason", "host", "host", clientText(req.Host), "from", req.RemoteAddr, "path", clientText(req.URL.Path), "hint", "see --public-host")
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("tunnelkit relay: Host %q is not a name this relay answers to", truncate(req.Host, 100)), http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// hostMatches compares Host headers case-insensitively; a public host
// given without a port matches any port.
func hostMatches(got, want string) bool {
	if strings.EqualFold(got, want) {
		return true
	}
	if _, _, err := net.SplitHostPort(want); err == nil {
		return false
	}
	h, _, err := net.SplitHostPort(got)
	return err == nil && strings.EqualFold(strings.Trim(h, "[]"), strings.Trim(want, "[]"))
}
