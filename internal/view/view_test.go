package view

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func dialer(t *testing.T, allowed string) DialFunc {
	return func(ctx context.Context, host string, port int) (net.Conn, error) {
		a := net.JoinHostPort(host, strconv.Itoa(port))
		if a != allowed { // tests dial only the exit they started
			return nil, errors.New("test dialer: not " + allowed + ": " + a)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", a)
	}
}

func get(t *testing.T, v *View, method, path string, h http.Header, body string) (*http.Response, string) {
	t.Helper()
	if h == nil {
		h = http.Header{}
	}
	r := Request{Method: method, Path: path, Header: h, Size: int64(len(body))}
	if body != "" {
		r.Body = strings.NewReader(body)
	}
	resp, err := v.Do(t.Context(), r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestView(t *testing.T) {
	mux := http.NewServeMux()
	var sawOrigin, sawReferer, sawCookie string
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		sawOrigin = r.Header.Get("Origin")
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cret", Path: "/"})
		http.Redirect(w, r, "http://"+r.Host+"/home?x=1", http.StatusSeeOther)
	})
	mux.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) {
		sawReferer = r.Header.Get("Referer")
		if c, err := r.Cookie("sid"); err == nil {
			sawCookie = c.Value
		}
		w.Header().Set("Content-Location", "/home")
		io.WriteString(w, strings.Repeat("home ", 1000)) // long enough to be gzipped by nobody, read back whole
	})
	mux.HandleFunc("/rel", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/abs/path")
		w.WriteHeader(http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	v, err := New(srv.URL+"/home", Options{Dial: dialer(t, u.Host), Origin: "http://page.test:8080", Prefix: "/view/7/"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.URL() != "http://page.test:8080/view/7/home" {
		t.Errorf("URL() = %q", v.URL())
	}
	h := http.Header{"Origin": {"http://page.test:8080"}, "Cookie": {"page=1"}, "Accept-Encoding": {"br"}}
	resp, _ := get(t, v, "POST", "/login", h, "user=a")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://page.test:8080/view/7/home?x=1" {
		t.Errorf("redirect: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("Set-Cookie reached the tab: %q", resp.Header.Get("Set-Cookie"))
	}
	if sawOrigin != srv.URL {
		t.Errorf("exit saw Origin %q, want its own %q", sawOrigin, srv.URL)
	}
	resp, body := get(t, v, "GET", "/home?x=1", http.Header{"Referer": {"http://page.test:8080/view/7/login"}}, "")
	if sawCookie != "s3cret" || sawReferer != srv.URL+"/login" || len(body) != 5000 {
		t.Errorf("exit saw cookie %q referer %q; body %d bytes", sawCookie, sawReferer, len(body))
	}
	if cl := resp.Header.Get("Content-Location"); cl != "http://page.test:8080/view/7/home" {
		t.Errorf("Content-Location %q", cl)
	}
	if resp, _ := get(t, v, "GET", "/rel", nil, ""); resp.Header.Get("Location") != "http://page.test:8080/view/7/abs/path" {
		t.Errorf("absolute-path Location became %q", resp.Header.Get("Location"))
	}
	if exit, ok := v.ExitURL("http://page.test:8080/view/7/a?b"); !ok || exit != srv.URL+"/a?b" {
		t.Errorf("ExitURL = %q %v", exit, ok)
	}
	if _, ok := v.ExitURL("http://page.test:8080/view/70/a"); ok {
		t.Errorf("ExitURL took another view's URL")
	}
}

func TestViewTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	fp := CertFingerprint(srv.Certificate().Raw)
	open := func(o TLSOptions) error {
		v, err := New(srv.URL, Options{Dial: dialer(t, u.Host), Origin: "http://p", Prefix: "/view/1/", TLS: o})
		if err != nil {
			return err
		}
		defer v.Close()
		resp, err := v.Do(t.Context(), Request{Method: "GET", Path: "/", Header: http.Header{}})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "secure" {
			return errors.New("body " + string(b))
		}
		return nil
	}
	if err := open(TLSOptions{Fingerprint: fp}); err != nil {
		t.Errorf("pinned: %v", err)
	}
	if err := open(TLSOptions{Insecure: true}); err != nil {
		t.Errorf("insecure: %v", err)
	}
	var ce *CertError
	if err := open(TLSOptions{}); !errors.As(err, &ce) || ce.Fingerprint != fp {
		t.Errorf("unverified: %v, want a CertError naming %s", err, fp)
	}
	if err := open(TLSOptions{Fingerprint: "SHA256:" + strings.Repeat("A", 43)}); !errors.As(err, &ce) {
		t.Errorf("wrong pin: %v", err)
	}
}
