package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tunnelkit/tunnel"
)

func writeSSHConfig(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// configured parses args, then applies the ssh config as plan does.
func configured(t *testing.T, args ...string) (*sshOptions, string, error) {
	t.Helper()
	o, err := parseSSHArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := loadSSHConfig(o.configFile, o.options)
	if err != nil {
		return nil, "", err
	}
	var log bytes.Buffer
	err = o.applyConfig(sc, slog.New(slog.NewTextHandler(&log, nil)))
	return o, log.String(), err
}

func TestSSHConfigApply(t *testing.T) {
	inc := writeSSHConfig(t, "Host a\n  IdentityFile ~/keys/%n_%r\n")
	f := writeSSHConfig(t, `Include `+inc+`
Host a
  HostName real-%h.example
  Port 2200
  User cfguser
  LocalForward 8080 db:5432
  RemoteForward [::1]:9000 localhost:3000
  DynamicForward 1080
  ProxyJump j1,bob@j2:2022
  ServerAliveInterval 7
  ServerAliveCountMax 2
  StrictHostKeyChecking accept-new
Match host m*
  Port 2300
  ServerAliveInterval 0
Host p
  ProxyCommand nc %h %p
Host s
  StrictHostKeyChecking no
  ForwardAgent yes
  HostKeyAlias other
Host c
  LocalForward 1 h:2
  ClearAllForwardings yes
Host u
  LocalForward /tmp/sock db:5432
`)
	o, _, err := configured(t, "-F", f, "a")
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	if o.host != "real-a.example" || o.port != 2200 || o.user != "cfguser" || o.jump != "j1,bob@j2:2022" ||
		o.keepalive != 7*time.Second || o.keepaliveMax != 2 || !o.acceptNew ||
		len(o.configKeys) != 1 || o.configKeys[0] != filepath.Join(home, "keys", "a_cfguser") {
		t.Errorf("applied: %+v", o)
	}
	var got []string
	for _, sp := range o.specs {
		got = append(got, sp.String())
	}
	if want := "-L 8080:db:5432,-R [::1]:9000:localhost:3000,-D 1080"; strings.Join(got, ",") != want {
		t.Errorf("forwards %v, want %s", got, want)
	}

	// The command line wins; its forwards come first.
	o, _, _ = configured(t, "-F", f, "-p", "2222", "-l", "me", "-J", "none", "-D", "5", "a", "--accept-new-host-key=false")
	if o.port != 2222 || o.user != "me" || o.jump != "none" || o.acceptNew || o.specs[0].Kind != tunnel.Dynamic || len(o.specs) != 4 {
		t.Errorf("flags did not win: %+v", o)
	}
	if o, _, _ = configured(t, "-F", f, "mhost"); o.port != 2300 || o.keepalive >= 0 {
		t.Errorf("Match host: port %d keepalive %v", o.port, o.keepalive)
	}
	if o, _, _ = configured(t, "-F", f, "-L", "1:h:2", "c"); len(o.specs) != 0 {
		t.Errorf("ClearAllForwardings left %v", o.specs)
	}

	// What would change where the connection goes is refused.
	if _, _, err := configured(t, "-F", f, "p"); err == nil || !strings.Contains(err.Error(), "ProxyCommand") || !strings.Contains(err.Error(), "ProxyJump") {
		t.Errorf("ProxyCommand: err = %v", err)
	}
	if _, _, err := configured(t, "-F", f, "u"); err == nil || !strings.Contains(err.Error(), "Unix socket") {
		t.Errorf("a Unix socket forward: err = %v", err)
	}
	// What changes security and is not applied is reported.
	_, log, err := configured(t, "-F", f, "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, kw := range []string{"keyword=StrictHostKeyChecking", "keyword=ForwardAgent", "keyword=HostKeyAlias"} {
		if !strings.Contains(log, kw) {
			t.Errorf("not reported: %s\n%s", kw, log)
		}
	}
	// A missing -F file names the flag.
	if _, _, err := configured(t, "-F", filepath.Join(t.TempDir(), "nope"), "a"); err == nil || !strings.Contains(err.Error(), "-F") {
		t.Errorf("missing -F file: err = %v", err)
	}
}

func TestParseJumps(t *testing.T) {
	hops, err := parseJumps("alice@b1, b2:2022,[::1]:22,ssh://bob@b3,fd00::7")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hops {
		got = append(got, h.String())
	}
	if want := "alice@b1,b2:2022,[::1]:22,bob@b3,[fd00::7]"; strings.Join(got, ",") != want {
		t.Errorf("parseJumps = %v, want %s", got, want)
	}
	for _, bad := range []string{"b1,", "@b1", "b1:0", "b1:x", "a b"} {
		if _, err := parseJumps(bad); err == nil {
			t.Errorf("parseJumps(%q) accepted", bad)
		}
	}
}

// TestSSHOptions: -o lines win over the config file, as in ssh, and
// bundled one-letter flags split as ssh takes them.
func TestSSHOptions(t *testing.T) {
	f := writeSSHConfig(t, "Host a\n  Port 2200\n  User cfg\n  LocalForward 1 h:2\n")
	o, _, err := configured(t, "-F", f, "-o", "Port=2300", "-o", "ProxyJump b1", "-o", "LocalForward=3 h:4", "-NTL", "5:h:6", "a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sp := range o.specs {
		got = append(got, sp.String())
	}
	if o.port != 2300 || o.user != "cfg" || o.jump != "b1" || strings.Join(got, ",") != "-L 5:h:6,-L 3:h:4,-L 1:h:2" {
		t.Errorf("options: port %d user %q jump %q forwards %v", o.port, o.user, o.jump, got)
	}
	if _, _, err := configured(t, "-F", "none", "-o", "ProxyCommand=nc %h %p", "a"); err == nil || !strings.Contains(err.Error(), "ProxyCommand") {
		t.Errorf("-o ProxyCommand: err = %v", err)
	}
	for _, args := range [][]string{{"-o", "Port", "a"}, {"-f", "a"}, {"-NX", "a"}} {
		if _, err := parseSSHArgs(args); err == nil {
			_, _, err = configured(t, args...)
			if err == nil {
				t.Errorf("%v accepted", args)
			}
		} else if args[0] == "-f" && !strings.Contains(err.Error(), "background") {
			t.Errorf("-f: %v", err)
		}
	}
}
