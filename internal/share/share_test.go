package share

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	data := []byte("0123456789abcdef")
	files := []File{
		{Name: "notes.txt", Size: int64(len(data)), Open: func() io.ReadSeeker { return bytes.NewReader(data) }},
		{Name: "notes.txt", Size: 1, Open: func() io.ReadSeeker { return strings.NewReader("x") }},
		{Name: "a/b.bin", Size: 1, Type: "application/x-test", Open: func() io.ReadSeeker { return strings.NewReader("y") }},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(files)) }()
	base := "http://" + ln.Addr().String()
	get := func(path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/")
	for _, want := range []string{`href="/notes.txt"`, `href="/notes-2.txt"`, `href="/a_b.bin"`} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s:\n%s", want, body)
		}
	}
	if resp, body = get("/notes.txt"); body != string(data) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("/notes.txt: %q %q", body, resp.Header.Get("Content-Type"))
	}
	if resp, body = get("/notes.txt", "Range", "bytes=4-7"); resp.StatusCode != 206 || body != "4567" || resp.Header.Get("Content-Range") != "bytes 4-7/16" {
		t.Errorf("range: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	if resp, _ = get("/a_b.bin"); resp.Header.Get("Content-Type") != "application/x-test" {
		t.Errorf("type %q", resp.Header.Get("Content-Type"))
	}
	if resp, _ = get("/missing"); resp.StatusCode != 404 {
		t.Errorf("missing: %d", resp.StatusCode)
	}
	head, err := http.Head(base + "/notes.txt")
	if err != nil || head.ContentLength != 16 {
		t.Errorf("HEAD: %v %v", head, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
}
