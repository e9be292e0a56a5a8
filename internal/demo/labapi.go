package demo

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"tunnelkit/internal/lab"
)

// The lab's HTTP face, under /lab/ on the demo's own address:
//
//	/lab/relay/HOST/v1/...  the relay acting as lab host HOST (dial, listen, accept)
//	GET  /lab/api/state     hosts, gateways' settings, listening sockets, the login
//	POST /lab/api/gateway   {"gateway","gatewayPorts","permitOpen"}: change a setting
//	POST /lab/api/reset     end every lab SSH connection, settings back to defaults
//
// The page itself is /lab (web.Handler).

// LabState is what GET /lab/api/state returns.
type LabState struct {
	User     string                  `json:"user"`
	Password string                  `json:"password"` // the lab reaches nothing outside the process
	Hosts    []LabHostState          `json:"hosts"`
	Gateways map[string]GatewayState `json:"gateways"`
	Sockets  []lab.Socket            `json:"sockets"`
}

type LabHostState struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Gateway bool   `json:"gateway"`
	Pinger  bool   `json:"pinger"`
}

type GatewayState struct {
	HostKey      string   `json:"hostKey"` // SHA256 fingerprint
	Port         int      `json:"port"`
	GatewayPorts string   `json:"gatewayPorts"`
	PermitOpen   []string `json:"permitOpen"`
}

// State is the lab as it is now.
func (l *Lab) State() LabState {
	st := LabState{User: LabUser, Password: l.Password, Gateways: map[string]GatewayState{}, Sockets: l.Net.Sockets()}
	for _, lh := range labHosts {
		st.Hosts = append(st.Hosts, LabHostState{Name: lh.name, Addr: lh.addr, Gateway: lh.gateway, Pinger: lh.pinger})
	}
	for name, g := range l.Gateways {
		po := g.PermitOpen()
		if len(po) == 0 {
			po = []string{"any"}
		}
		st.Gateways[name] = GatewayState{HostKey: g.Fingerprint(), Port: 22, GatewayPorts: g.GatewayPorts().String(), PermitOpen: po}
	}
	return st
}

// Reset ends every SSH connection to the lab's gateways (their forwards
// and entry sockets go with them) and restores the default settings.
func (l *Lab) Reset() {
	for _, g := range l.Gateways {
		g.SetGatewayPorts(labDefaultPorts)
		g.SetPermitOpen(nil)
		g.Disconnect()
	}
}

// Handler serves /lab/relay/... and /lab/api/...
func (l *Lab) Handler() http.Handler {
	mux := http.NewServeMux()
	for name, rl := range l.relays {
		prefix := "/lab/relay/" + name
		mux.Handle(prefix+"/", http.StripPrefix(prefix, rl.Handler()))
	}
	mux.HandleFunc("GET /lab/api/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, l.State())
	})
	mux.HandleFunc("POST /lab/api/gateway", l.serveGateway)
	mux.HandleFunc("POST /lab/api/reset", func(w http.ResponseWriter, r *http.Request) {
		if !sameOriginJSON(w, r) {
			return
		}
		l.Reset()
		writeJSON(w, http.StatusOK, l.State())
	})
	mux.HandleFunc("/lab/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such lab endpoint: " + r.URL.Path + " (the lab's hosts are host1-host4, gateway1, gateway2)"})
	})
	return mux
}

func (l *Lab) serveGateway(w http.ResponseWriter, r *http.Request) {
	if !sameOriginJSON(w, r) {
		return
	}
	var req struct {
		Gateway      string  `json:"gateway"`
		GatewayPorts *string `json:"gatewayPorts"`
		PermitOpen   *string `json:"permitOpen"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want JSON {gateway, gatewayPorts, permitOpen}: " + err.Error()})
		return
	}
	g := l.Gateways[req.Gateway]
	if g == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "no gateway " + req.Gateway + " in the lab (gateway1 or gateway2)"})
		return
	}
	var ports GatewayPorts
	var permit []string
	var err error
	if req.GatewayPorts != nil {
		if ports, err = ParseGatewayPorts(*req.GatewayPorts); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	}
	if req.PermitOpen != nil {
		if permit, err = ParsePermitOpen(*req.PermitOpen); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	}
	// Both checked: apply both or neither.
	if req.GatewayPorts != nil {
		g.SetGatewayPorts(ports)
	}
	if req.PermitOpen != nil {
		g.SetPermitOpen(permit)
	}
	writeJSON(w, http.StatusOK, l.State())
}

// sameOriginJSON refuses requests another site's page could make: a body
// that is not JSON (which cross-site forms cannot send without a CORS
// preflight) or a foreign Origin.
func sameOriginJSON(w http.ResponseWriter, r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	origin := r.Header.Get("Origin")
	if ct != "application/json" || (origin != "" && strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://") != r.Host) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the lab takes changes from its own page only (JSON, same origin)"})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
