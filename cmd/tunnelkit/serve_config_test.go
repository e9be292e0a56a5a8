package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/client"
	"tunnelkit/relay/wire"
)

// startServe runs "tunnelkit serve args..." like startTunnelkit runs ssh.
func startServe(t *testing.T, bin string, args ...string) *tunnelkitProc {
	t.Helper()
	p := &tunnelkitProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	p.cmd.Stderr = &p.stderr
	p.start(t, nil, args)
	return p
}

func loopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// echoThrough dials target through the relay and checks one round trip.
func echoThrough(ctx context.Context, relayURL, target string) error {
	c, err := client.Dial(ctx, relayURL, target, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTripConn(c, "hi "+target)
}

func roundTripConn(c net.Conn, s string) error {
	if _, err := io.WriteString(c, s); err != nil {
		return err
	}
	buf := make([]byte, len(s))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != s {
		return fmt.Errorf("echo %q: got %q, %v", s, buf, err)
	}
	return nil
}

func refusedByPolicy(err error) bool {
	var ce *client.CloseError
	return errors.As(err, &ce) && ce.Code == wire.CloseRefused
}

// TestServeConfigReloadOnHangup: serve --config FILE (TOML, its rules in a
// rules file named relative to it); SIGHUP after the rules changed allows
// the new target and refuses the old one for new streams while a stream
// held from before keeps working; a broken file is logged with its line and
// the running rules stay; a changed file is picked up without a signal.
func TestServeConfigReloadOnHangup(t *testing.T) {
	bin := buildTunnelkit(t)
	echo1 := sshtest.StartEcho(t, "127.0.0.1:0")
	echo2 := sshtest.StartEcho(t, "127.0.0.1:0")
	dir := t.TempDir()
	addr := loopbackAddr(t)
	conf := filepath.Join(dir, "tunnelkit.toml")
	rules := filepath.Join(dir, "rules.txt")
	write := func(file, s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(rules, echo1+"\n")
	write(conf, fmt.Sprintf("listen = %q\nrules = \"rules.txt\"\nmax-streams-per-client = 8\n", addr))
	p := startServe(t, bin, "--config", conf)
	p.waitFor(t, func(out string) bool { return strings.Contains(out, "listening on") })
	for _, want := range []string{"dial allowed: " + echo1, "tokens: none", "8 per client"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("start-up output does not say %q:\n%s", want, p.output())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "ws://" + addr
	held, err := client.Dial(ctx, url, echo1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := roundTripConn(held, "before"); err != nil {
		t.Fatal(err)
	}

	hangup := func(want string) {
		t.Helper()
		n := strings.Count(p.output(), want)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		p.waitFor(t, func(out string) bool { return strings.Count(out, want) > n })
	}
	write(rules, echo2+"\n")
	hangup("reloaded")
	if err := roundTripConn(held, "held across the reload"); err != nil {
		t.Fatalf("held stream after the reload: %v", err)
	}
	if err := echoThrough(ctx, url, echo2); err != nil {
		t.Fatalf("newly allowed target: %v", err)
	}
	if err := echoThrough(ctx, url, echo1); !refusedByPolicy(err) {
		t.Fatalf("target no longer allowed: %v, want refused by policy", err)
	}

	// A broken file: logged with where, and nothing changes.
	write(conf, fmt.Sprintf("listen = %q\nrules = [\"rules.txt\"\n", addr))
	hangup("reload failed")
	if out := p.output(); !strings.Contains(out, conf) || !strings.Contains(out, "line 2") {
		t.Errorf("the failed reload does not name the file and its line:\n%s", out)
	}
	write(conf, fmt.Sprintf("listen = %q\nrules = \"rules.txt\"\nallow-oirgin = [\"x\"]\n", addr))
	hangup("reload failed")
	if !strings.Contains(p.output(), `unknown key \"allow-oirgin\"`) && !strings.Contains(p.output(), `unknown key "allow-oirgin"`) {
		t.Errorf("the failed reload does not name the unknown key:\n%s", p.output())
	}
	write(conf, fmt.Sprintf("listen = %q\nrules = \"rules.txt\"\n", addr))
	write(rules, "not a rule\n")
	hangup("reload failed")
	if !strings.Contains(p.output(), "--rules "+rules) {
		t.Errorf("the failed reload does not name the rules file:\n%s", p.output())
	}
	if err := echoThrough(ctx, url, echo2); err != nil {
		t.Fatalf("after failed reloads, the running rules must stay: %v", err)
	}
	if err := echoThrough(ctx, url, echo1); !refusedByPolicy(err) {
		t.Fatalf("after failed reloads: %v, want refused by policy", err)
	}
	if err := roundTripConn(held, "still held"); err != nil {
		t.Fatalf("held stream after failed reloads: %v", err)
	}

	// No signal: a changed rules file is noticed and applied by itself.
	n := strings.Count(p.output(), "msg=reloaded")
	write(rules, echo1+"\n")
	p.waitFor(t, func(out string) bool { return strings.Count(out, "msg=reloaded") > n })
	if err := echoThrough(ctx, url, echo1); err != nil {
		t.Fatalf("after the rules file changed: %v", err)
	}
	if err := roundTripConn(held, "held to the end"); err != nil {
		t.Fatalf("held stream after the watched reload: %v", err)
	}
}

// TestServeFlagsOverrideFile: a flag on the command line wins over its key
// (a repeatable one replaces the file's list), keys without a flag are
// errors, and paths are relative to the file.
func TestServeFlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "serve.toml")
	os.WriteFile(conf, []byte(`listen = "127.0.0.1:9"
allow = ["10.0.0.1:22", "10.0.0.2:22"]
allow-listen = "127.0.0.1:8000-8100"
max-streams = 50
idle-timeout = "3m"
token-file = "tokens"
`), 0o644)
	os.WriteFile(filepath.Join(dir, "tokens"), []byte(strings.Repeat("t", 32)+" name=ops\n"), 0o644)
	o, err := parseServeArgs([]string{"--config", conf, "--allow", "10.0.0.3:22", "--max-streams", "7"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.relayConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:9" || strings.Join(cfg.Allow, ",") != "10.0.0.3:22" || strings.Join(cfg.AllowListen, ",") != "127.0.0.1:8000-8100" ||
		cfg.MaxStreams != 7 || cfg.IdleTimeout != 3*time.Minute || len(cfg.Tokens) != 1 || cfg.Tokens[0].Name != "ops" {
		t.Errorf("listen %s, config %+v: want the file's listen, allow-listen, idle and tokens, the flags' allow and max-streams", o.listen, cfg)
	}
	for _, c := range []struct{ body, want string }{
		{`listn = "x"`, `unknown key "listn"`},
		{`config = "other.toml"`, `unknown key "config"`},
		{`listen = ["a", "b"]`, "takes one value"},
		{`max-streams = "many"`, `max-streams = "many"`},
		{"allow = [\n\"a\",\n", "line 3"},
		{`[limits]`, "limits"},
	} {
		os.WriteFile(conf, []byte(c.body+"\n"), 0o644)
		_, err := parseServeArgs([]string{"--config", conf})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), conf) {
			t.Errorf("config %q: err %v, want it to name the file and say %q", c.body, err, c.want)
		}
	}
}

// TestServeMetricsListen: --metrics-listen serves /metrics and /healthz on
// a port of their own; the public listener no longer shows metrics.
func TestServeMetricsListen(t *testing.T) {
	bin := buildTunnelkit(t)
	addr, metrics := loopbackAddr(t), loopbackAddr(t)
	p := startServe(t, bin, "--listen", addr, "--metrics-listen", metrics)
	p.waitFor(t, func(out string) bool { return strings.Contains(out, "listening on") })
	for _, c := range []struct {
		url  string
		code int
	}{
		{"http://" + metrics + "/metrics", 200},
		{"http://" + metrics + "/healthz", 200},
		{"http://" + addr + "/healthz", 200},
		{"http://" + addr + "/metrics", 404},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("GET %s: %d, want %d", c.url, resp.StatusCode, c.code)
		}
		if c.code == 200 && strings.HasSuffix(c.url, "/metrics") && !strings.Contains(string(body), "tunnelkit_relay_") {
			t.Errorf("metrics port: %.200s", body)
		}
	}
}

// TestServePagePresetAndPrefix: --page-gateway and --page-user answer at
// page-config.json; --path-prefix serves the page and the relay under it
// (the relay URL the page derives from its own directory works), nothing
// outside it but /healthz.
func TestServePagePresetAndPrefix(t *testing.T) {
	bin := buildTunnelkit(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	addr := loopbackAddr(t)
	p := startServe(t, bin, "--listen", addr, "--allow", echo, "--path-prefix", "/tunnel/",
		"--page-gateway", "gateway.internal:2222", "--page-user", "alice")
	p.waitFor(t, func(out string) bool { return strings.Contains(out, "listening on http://"+addr+"/tunnel/") })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := noRedirect.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, h := get("/tunnel/page-config.json"); code != 200 || body != `{"host":"gateway.internal","port":2222,"user":"alice"}` || h.Get("Content-Type") != "application/json" {
		t.Errorf("page-config.json: %d %q %q", code, body, h.Get("Content-Type"))
	}
	if code, body, _ := get("/tunnel/"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("the page under the prefix: %d %.100q", code, body)
	}
	if code, _, h := get("/tunnel"); code/100 != 3 || h.Get("Location") != "/tunnel/" {
		t.Errorf("/tunnel: %d to %q, want a redirect to /tunnel/", code, h.Get("Location"))
	}
	for _, path := range []string{"/", "/v1/dial", "/index.html"} {
		if code, _, _ := get(path); code != 404 {
			t.Errorf("%s outside the prefix: %d, want 404", path, code)
		}
	}
	for _, path := range []string{"/healthz", "/tunnel/healthz"} {
		if code, _, _ := get(path); code != 200 {
			t.Errorf("%s: %d, want 200", path, code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := echoThrough(ctx, "ws://"+addr+"/tunnel/", echo); err != nil {
		t.Errorf("relay under the prefix: %v", err)
	}
	// Without a preset the page gets 204, as for demo.json.
	addr2 := loopbackAddr(t)
	p2 := startServe(t, bin, "--listen", addr2)
	p2.waitFor(t, func(out string) bool { return strings.Contains(out, "listening on") })
	resp, err := http.Get("http://" + addr2 + "/page-config.json")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("page-config.json without a preset: %v %v, want 204", resp.Status, err)
	}
	for _, bad := range [][]string{{"--page-gateway", "nohost"}, {"--page-gateway", "h:0"}, {"--path-prefix", "tunnel"}} {
		if _, err := parseServeArgs(bad); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: err %v, want one naming %s", bad, err, bad[0])
		}
	}
}
