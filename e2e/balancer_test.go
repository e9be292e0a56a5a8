package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
	"tunnelkit/web"
)

// relayServer is one relay with the page, as `tunnelkit serve` mounts
// them, logging JSON into Log.
type relayServer struct {
	Relay  *relay.Relay
	Server *httptest.Server
	Log    *syncBuffer
}

func startRelayServer(t *testing.T, wasmDir string, cfg relay.Config) *relayServer {
	t.Helper()
	log := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(log, nil))
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	mux := http.NewServeMux()
	rh := r.Handler()
	mux.Handle("/v1/", rh)
	mux.Handle("/healthz", rh)
	mux.Handle("/metrics", rh)
	mux.HandleFunc("/tunnelkit.wasm", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(wasmDir, "tunnelkit.wasm"))
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, filepath.Join(wasmDir, "wasm_exec.js"))
	})
	mux.Handle("/", web.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		srv.CloseClientConnections()
		srv.Close()
	})
	return &relayServer{Relay: r, Server: srv, Log: log}
}

// metric sums the samples of name{labels} in the relay's /metrics.
func (rs *relayServer) metric(t *testing.T, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get(rs.Server.URL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+"{"+labels+"}"); ok {
			var v float64
			fmt.Sscan(strings.TrimSpace(rest), &v)
			sum += v
		}
	}
	return sum
}

// TestThreeRelaysRoundRobin: three relays behind real nginx round-robin,
// no affinity. The page (itself loaded through nginx) connects sessions
// and opens -L forwards whose entry sockets are on the relay host, until
// every relay holds a dial stream and a listener; 30 connections then go
// through those forwards. Every one must get through (with /v1/accept
// per connection, most reached a relay that did not hold the listener),
// and the relays' audit logs show the streams spread over all three.
func TestThreeRelaysRoundRobin(t *testing.T) {
	const conns, size = 30, 64 << 10
	dir := buildWasm(t)
	sshd := sshtest.StartOpenSSH(t, sshtest.Options{})
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	var relays []*relayServer
	var upstream strings.Builder
	for range 3 {
		rs := startRelayServer(t, dir, relay.Config{Allow: []string{sshd.Addr}, AllowListen: []string{"127.0.0.1:*"}})
		relays = append(relays, rs)
		fmt.Fprintf(&upstream, "    server %s;\n", strings.TrimPrefix(rs.Server.URL, "http://"))
	}
	ndir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := nginxPreamble(ndir) + `http {
  ` + nginxTempPaths(ndir) + `
  access_log ` + ndir + `/access.log;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream relays {
` + upstream.String() + `  }
  server {
    listen ` + addr + `;
    location / {
      proxy_pass http://relays;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      proxy_buffering off;
    }
  }
}
`
	startNginx(t, ndir, conf, addr)

	ctx := newBrowser(t)
	st := &stack{SSHD: sshd}
	openPage(t, ctx, "http://"+addr+"/")
	spread := func(kind, metric string) bool {
		for _, rs := range relays {
			if rs.metric(t, metric, `kind="`+kind+`"`) == 0 {
				return false
			}
		}
		return true
	}
	var entries []string
	for i := 0; i < 9 && (i < 3 || !spread("dial", "tunnelkit_relay_streams_total") || !spread("listen", "tunnelkit_relay_streams_active")); i++ {
		mustJS[any](t, ctx, strings.Replace(connectJS(st, ""), "window.s =", fmt.Sprintf("window.s%d =", i), 1))
		entries = append(entries, mustJS[string](t, ctx, fmt.Sprintf(`window.f%d = await s%d.forward(%s); return f%d.entry;`, i, i, jsString("-L 127.0.0.1:0:"+echo), i)))
	}
	if !spread("dial", "tunnelkit_relay_streams_total") || !spread("listen", "tunnelkit_relay_streams_active") {
		t.Fatalf("after %d sessions, not every relay holds a dial stream and a listener: the balancer is not round-robin?", len(entries))
	}

	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(entries[i%len(entries)], size, byte(i))
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Error(err)
		}
	}
	t.Logf("%d of %d connections through %d forwards behind nginx round-robin", conns-failed, conns, len(entries))

	for i := range entries {
		mustJS[any](t, ctx, fmt.Sprintf(`await s%d.close();`, i))
	}
	accepted := 0
	for i, rs := range relays {
		var dials, accepts []string
		waitFor(10*time.Second, func() bool {
			dials, accepts = rs.Log.lines(`"msg":"stream"`, `"kind":"dial"`), rs.Log.lines(`"msg":"stream"`, `"kind":"accept"`, `"close_code":1000`)
			return rs.metric(t, "tunnelkit_relay_streams_active", `kind="listen"`) == 0
		})
		t.Logf("relay %d: %d dial streams, %d accepted connections", i+1, len(dials), len(accepts))
		if len(dials) == 0 || len(accepts) == 0 {
			t.Errorf("relay %d logged %d dial streams and %d accepted connections, want some of each", i+1, len(dials), len(accepts))
		}
		accepted += len(accepts)
	}
	if accepted != conns {
		t.Errorf("relays logged %d accepted connections closed normally, want %d", accepted, conns)
	}
}
