// Package view is the HTTP viewer's Go side: it carries a browser tab's
// requests for one exit web app to that app with net/http's client, over
// connections the caller dials (direct-tcpip through the gateway), and makes
// the answers fit the view's place in the page's origin.
//
// A view lives under a path prefix of the page's origin, "/view/<id>/": the
// page's Service Worker maps "/view/<id>/<path>" to the exit's "/<path>"
// and hands the request to Do. The view keeps the exit's cookies in its own
// jar (the tab never sees them) and follows no redirects itself: the tab
// does, with an absolute Location rewritten into the view.
package view

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
)

// DialFunc opens one TCP connection to the exit host:port.
type DialFunc func(ctx context.Context, host string, port int) (net.Conn, error)

// Options configure a View.
type Options struct {
	Dial   DialFunc // required
	Origin string   // the page's origin, e.g. "http://127.0.0.1:8080"
	Prefix string   // the view's path prefix there, e.g. "/view/3/"
	TLS    TLSOptions
}

// View is one exit web app seen through the page.
type View struct {
	target *url.URL // scheme and host of the exit; path of the first page
	origin string
	prefix string // with a trailing slash
	client *http.Client
	tr     *http.Transport
}

// New makes a view of target, an http:// or https:// URL of the exit.
func New(target string, o Options) (*View, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad web app address %q: want http://host:port/ or https://host:port/", target)
	}
	if u.User != nil {
		return nil, fmt.Errorf("bad web app address %q: user names and passwords in the address are not supported", target)
	}
	if o.Dial == nil || o.Origin == "" || !strings.HasPrefix(o.Prefix, "/") || !strings.HasSuffix(o.Prefix, "/") {
		return nil, errors.New("view: Dial, Origin and a Prefix like /view/1/ are required")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.Fragment = ""
	v := &View{target: u, origin: strings.TrimSuffix(o.Origin, "/"), prefix: o.Prefix}
	jar, _ := cookiejar.New(nil) // never fails without options
	v.tr = &http.Transport{
		// A DialContext makes net/http use this transport under GOOS=js too,
		// instead of handing the request to the browser's fetch.
		DialContext: func(ctx context.Context, _, address string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			p, err := strconv.Atoi(port)
			if err != nil {
				return nil, err
			}
			return o.Dial(ctx, host, p)
		},
		MaxIdleConnsPerHost: 6, // as many as a browser opens to one host
	}
	if u.Scheme == "https" {
		cfg, err := o.TLS.config(u.Hostname())
		if err != nil {
			return nil, err
		}
		v.tr.TLSClientConfig = cfg
	}
	v.client = &http.Client{
		Transport:     v.tr,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return v, nil
}

// URL is where a tab opens the view: the target's first page under the prefix.
func (v *View) URL() string {
	u := *v.target
	return v.origin + strings.TrimSuffix(v.prefix, "/") + u.RequestURI()
}

// Target is the exit's URL the view was made for.
func (v *View) Target() string { return v.target.String() }

// Close drops the view's idle connections to the exit.
func (v *View) Close() { v.tr.CloseIdleConnections() }

// Request is one request of the tab, as the Service Worker saw it.
type Request struct {
	Method string
	Path   string      // the exit's path and query: "/style.css?v=2"
	Header http.Header // the tab's headers
	Body   io.Reader   // nil without a body
	Size   int64       // body length; -1 if unknown
}

// Do sends r to the exit and returns the answer made ready for the tab:
// cookies kept in the view's jar, Location rewritten into the view, the
// body decoded. The caller closes resp.Body.
func (v *View) Do(ctx context.Context, r Request) (*http.Response, error) {
	if !strings.HasPrefix(r.Path, "/") {
		return nil, fmt.Errorf("view: path %q does not start with /", r.Path)
	}
	ref, err := url.ParseRequestURI(r.Path)
	if err != nil {
		return nil, fmt.Errorf("view: bad path %q: %w", r.Path, err)
	}
	u := *v.target
	u.Path, u.RawPath, u.RawQuery = ref.Path, ref.RawPath, ref.RawQuery
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	req.ContentLength = r.Size
	if r.Body == nil {
		req.ContentLength = 0
	}
	v.copyRequestHeader(req.Header, r.Header)
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	v.fixResponseHeader(resp.Header, req.URL)
	return resp, nil
}

// requestDrop are the tab's headers that are the page origin's business,
// not the exit's: its cookies, and the codings the tab could decode (the
// Service Worker cannot hand an encoded body on, so Go decodes it).
var requestDrop = []string{"Cookie", "Accept-Encoding", "Host", "Connection", "Keep-Alive",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Service-Worker"}

func (v *View) copyRequestHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	for _, k := range requestDrop {
		dst.Del(k)
	}
	// Apps that check Origin and Referer see their own, as without the view.
	if o := dst.Get("Origin"); o != "" {
		if o == v.origin {
			dst.Set("Origin", v.target.Scheme+"://"+v.target.Host)
		} else {
			dst.Del("Origin")
		}
	}
	if ref := dst.Get("Referer"); ref != "" {
		if exit, ok := v.ExitURL(ref); ok {
			dst.Set("Referer", exit)
		} else {
			dst.Del("Referer")
		}
	}
}

// responseDrop are headers that would act on the page's whole origin.
var responseDrop = []string{"Set-Cookie", "Clear-Site-Data", "Strict-Transport-Security",
	"Alt-Svc", "Service-Worker-Allowed", "Connection", "Keep-Alive", "Transfer-Encoding"}

func (v *View) fixResponseHeader(h http.Header, reqURL *url.URL) {
	for _, k := range responseDrop {
		h.Del(k)
	}
	for _, k := range []string{"Location", "Content-Location", "Refresh"} {
		if s := h.Get(k); s != "" {
			h.Set(k, v.rewriteLocation(k, s, reqURL))
		}
	}
}

// rewriteLocation maps an exit URL in a header into the view: absolute
// URLs of the exit and absolute paths both become the view's.
func (v *View) rewriteLocation(key, s string, base *url.URL) string {
	if key == "Refresh" { // "5; url=/next"
		i := strings.Index(strings.ToLower(s), "url=")
		if i < 0 {
			return s
		}
		return s[:i+4] + v.rewriteLocation("Location", strings.Trim(s[i+4:], `'"`), base)
	}
	ref, err := url.Parse(s)
	if err != nil {
		return s
	}
	abs := base.ResolveReference(ref)
	if abs.Scheme != v.target.Scheme || abs.Host != v.target.Host {
		return s // elsewhere: the tab goes there itself
	}
	return v.ViewURL(abs.RequestURI()) + fragment(abs)
}

func fragment(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.EscapedFragment()
}

// ViewURL is the page-origin URL showing the exit's path (and query).
func (v *View) ViewURL(exitPath string) string {
	return v.origin + strings.TrimSuffix(v.prefix, "/") + exitPath
}

// ExitURL maps a URL of the view back to the exit's; false if s is not in the view.
func (v *View) ExitURL(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, v.origin+strings.TrimSuffix(v.prefix, "/"))
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return v.target.Scheme + "://" + v.target.Host + rest, true
}
