package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"tunnelkit/relay"
	"tunnelkit/web"
)

// pageConfig is --page-gateway and --page-user as the page's preset.
func (o *serveOptions) pageConfig() (web.PageConfig, error) {
	pc := web.PageConfig{User: o.pageUser}
	if o.pageGateway != "" {
		h, p, err := net.SplitHostPort(o.pageGateway)
		port, perr := strconv.Atoi(p)
		if err != nil || h == "" || perr != nil || port < 1 || port > 65535 {
			return pc, badUsage("serve", "--page-gateway %q: want HOST:PORT, e.g. gateway.internal:22", o.pageGateway)
		}
		pc.Host, pc.Port = h, port
	}
	return pc, nil
}

// cleanPrefix checks --path-prefix: "" or "/a/b/" (a slash each end).
func cleanPrefix(p string) (string, error) {
	if p == "" || p == "/" {
		return "", nil
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#* ") || strings.Contains(p, "//") || strings.Contains(p, "/../") {
		return "", badUsage("serve", "--path-prefix %q: want a path such as /tunnel/", p)
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, nil
}

// publicHandler is the relay and the page, under --path-prefix when set:
// PREFIX/ is the page, PREFIX/v1/... the relay (the page's default relay
// URL is its own directory, so it finds it), PREFIX without its slash
// redirects there. /healthz stays at the root too, for probes that know no
// prefix.
func (o *serveOptions) publicHandler(rl *relay.Relay, pc web.PageConfig) http.Handler {
	h := rl.WithUI(web.HandlerWith(pc))
	if o.pathPrefix == "" {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle(o.pathPrefix, http.StripPrefix(strings.TrimSuffix(o.pathPrefix, "/"), h))
	mux.Handle("GET /healthz", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		// (PREFIX without its slash: the mux redirects to PREFIX/.)
		http.Error(w, fmt.Sprintf("tunnelkit: served under %s", o.pathPrefix), http.StatusNotFound)
	})
	return mux
}
