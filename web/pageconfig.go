package web

import (
	"encoding/json"
	"net/http"
)

// PageConfig presets the page's connect form for a team's relay
// (`tunnelkit serve --page-gateway HOST:PORT --page-user USER`), so its
// users only type a password. The page reads it from page-config.json,
// relative to itself (a path prefix included); with no preset that answers
// 204 No Content.
type PageConfig struct {
	Host string `json:"host,omitempty"` // the gateway
	Port int    `json:"port,omitempty"`
	User string `json:"user,omitempty"`
}

// HandlerWith is Handler serving pc at /page-config.json.
func HandlerWith(pc PageConfig) http.Handler {
	if pc == (PageConfig{}) {
		return Handler()
	}
	body, _ := json.Marshal(pc)
	ui := Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/page-config.json" {
			ui.ServeHTTP(w, r)
			return
		}
		setSecurityHeaders(w.Header())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(body)
	})
}
