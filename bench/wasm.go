package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// wasmFigures: the size of tunnelkit.wasm as built and as `tunnelkit serve`
// sends it for each Accept-Encoding a browser may offer.
func wasmFigures(ctx context.Context, e *Env) []Figure {
	fig := func(name, label string, bytes int64, note string) Figure {
		return Figure{Name: name, Label: label, Unit: "MB", Values: []float64{float64(bytes) / 1e6}, Status: statusOK, Note: note}
	}
	dist := filepath.Join(e.Root, "web", "dist", "tunnelkit.wasm")
	st, err := os.Stat(dist)
	if err != nil {
		return []Figure{figureNA("wasm-wire", ".wasm on the wire", "MB", na("web/dist/tunnelkit.wasm not built: run make wasm"))}
	}
	out := []Figure{fig("wasm-raw", ".wasm raw (web/dist)", st.Size(), "")}

	r, err := startRelay(ctx, e, nil, nil, 0)
	if err != nil {
		return append(out, figureNA("wasm-wire", ".wasm on the wire", "MB", err))
	}
	defer r.Stop()
	wire := int64(-1)
	var wireEnc string
	for _, enc := range []string{"identity", "gzip", "br"} {
		n, got, err := fetchSize(ctx, "http://"+r.Addr+"/tunnelkit.wasm", enc)
		if err != nil {
			return append(out, figureNA("wasm-wire", ".wasm on the wire", "MB", err))
		}
		if got == "" {
			got = "identity"
		}
		out = append(out, fig("wasm-"+enc, ".wasm served, Accept-Encoding: "+enc, n, "Content-Encoding: "+got))
		if wire < 0 || n < wire {
			wire, wireEnc = n, got
		}
	}
	return append(out, fig("wasm-wire", ".wasm on the wire (smallest)", wire, wireEnc))
}

// fetchSize GETs url offering one encoding and returns the body's size on
// the wire and the Content-Encoding the server chose.
func fetchSize(ctx context.Context, url, enc string) (int64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept-Encoding", enc) // set explicitly: the transport then leaves the body encoded
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return n, resp.Header.Get("Content-Encoding"), err
}
