package relay

import (
	"fmt"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/coder/websocket"

	"tunnelkit/relay/wire"
)

// acceptOptions keeps coder/websocket's cross-origin rejection on: a page
// may open streams only from the relay's own origin or an allowed one.
func acceptOptions(origins []string) (*websocket.AcceptOptions, error) {
	for _, o := range origins {
		if o == "*" {
			return nil, fmt.Errorf("allow-origin %q would let any web page use the relay; name the origins", o)
		}
		if _, err := path.Match(o, ""); err != nil {
			return nil, fmt.Errorf("allow-origin %q: %v", o, err)
		}
	}
	return &websocket.AcceptOptions{
		Subprotocols:   []string{wire.Subprotocol},
		OriginPatterns: origins,
	}, nil
}

// checkHost answers only requests for the public host, when one is set:
// it keeps DNS-rebinding pages from reaching the relay by another name.
func (r *Relay) checkHost(next http.Handler) http.Handler {
	var wants []string
	for _, h := range append([]string{r.cfg.PublicHost}, r.cfg.ExtraPublicHosts...) {
		if h != "" {
			wants = append(wants, h)
		}
	}
	if len(wants) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !slices.ContainsFunc(wants, func(want string) bool { return hostMatches(req.Host, want) }) {
			r.metrics.refusals.WithLabelValues("host").Inc()
			r.log.Warn("refused", "reason", "host", "host", req.Host, "from", req.RemoteAddr)
			http.Error(w, fmt.Sprintf("tunnelkit relay: Host %q is not this relay's public host (see --public-host)", req.Host), http.StatusMisdirectedRequest)
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
