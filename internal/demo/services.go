package demo

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"tunnelkit/internal/tcpserve"
)

// serveEach serves each connection of every listener with serve; closing
// a server ends its connections and waits for them.
func serveEach(serve func(net.Conn), lns ...net.Listener) []*tcpserve.Server {
	var out []*tcpserve.Server
	for _, ln := range lns {
		if ln != nil {
			out = append(out, tcpserve.Serve(ln, serve))
		}
	}
	return out
}

// echo sends back every byte it receives.
func echo(c net.Conn) {
	io.Copy(c, c)
}

// pinger answers each line with "ACK <line>".
func pinger(c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		if _, err := fmt.Fprintf(c, "ACK %s\n", sc.Text()); err != nil {
			return
		}
	}
}

// webPage is the demo's HTTP exit: a page saying where it was reached from.
type webPage struct {
	hits atomic.Int64
}

func (p *webPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch r.URL.Path {
	case "/":
		n := p.hits.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, helloPage, html.EscapeString(r.RemoteAddr), html.EscapeString(r.Host), n, time.Now().UTC().Format(time.RFC1123))
	case "/bytes":
		// /bytes?n=N streams N bytes (at most 256 MiB): traffic to watch.
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 || n > 256<<20 {
			http.Error(w, "use /bytes?n=N with N between 0 and 268435456", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.CopyN(w, zeros{}, n)
	default:
		http.NotFound(w, r)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

const helloPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hello from the exit socket</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#17212b;background:#f4f6f8}
.card{background:#fff;border:1px solid #d9dfe6;border-radius:12px;padding:1.5rem 2rem}
h1{color:#0f7a5c;margin-top:0}code{font-family:ui-monospace,monospace;background:#eef2f6;padding:1px 6px;border-radius:4px}
</style></head><body><div class="card">
<h1>hello from the exit socket</h1>
<p>This page is served by tunnelkit's demo web service. Your request reached it through the tunnel.</p>
<p>The connection came from <code>%s</code> (the side that opened the exit socket: the gateway for <code>-L</code>, the relay for <code>-R</code>), asking for host <code>%s</code>.</p>
<p>Visits: %d &middot; %s</p>
<p>For more traffic, fetch <code>/bytes?n=10000000</code>.</p>
</div></body></html>
`

// webService runs webPage over HTTP on its listeners.
type webService struct {
	srv *http.Server
	lns []net.Listener
	wg  sync.WaitGroup
}

func startWeb(lns ...net.Listener) *webService {
	w := &webService{srv: &http.Server{Handler: &webPage{}, ReadHeaderTimeout: 10 * time.Second}}
	for _, ln := range lns {
		if ln == nil {
			continue
		}
		w.lns = append(w.lns, ln)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.srv.Serve(ln) // returns when Close shuts the server down
		}()
	}
	return w
}

// Close stops the server: in-flight requests get a moment to finish.
func (w *webService) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := w.srv.Shutdown(ctx); err != nil {
		w.srv.Close()
	}
	for _, ln := range w.lns {
		ln.Close() // one whose Serve had not begun yet is not the server's
	}
	w.wg.Wait()
	return nil
}
