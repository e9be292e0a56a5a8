package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tunnelkit/tunnel"
)

// TestSSHFlagsAfterHost: "tunnelkit ssh host -L ..." works, as with ssh.
func TestSSHFlagsAfterHost(t *testing.T) {
	o, err := parseSSHArgs([]string{"-p", "2222", "alice@gw", "-L", "8080:db:5432", "-R", "9000:localhost:3000", "-v"})
	if err != nil {
		t.Fatal(err)
	}
	if o.target != "alice@gw" || o.port != 2222 || !o.verbose || len(o.specs) != 2 ||
		o.specs[0].String() != "-L 8080:db:5432" || o.specs[1].Kind != tunnel.Remote {
		t.Errorf("parsed %+v", o)
	}
	if !o.set["L"] || !o.set["p"] || o.set["l"] {
		t.Errorf("flags seen on the command line: %v", o.set)
	}
	_, err = parseSSHArgs([]string{"gw", "-L", "8080:db:5432", "uptime"})
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `"uptime"`) || !strings.Contains(err.Error(), "no remote command") {
		t.Errorf("a remote command: err = %v, want a usage error naming it", err)
	}
}

// TestBadFlagOneLine: a bad flag is one error and a one-line hint, not the usage.
func TestBadFlagOneLine(t *testing.T) {
	bin := buildTunnelkit(t)
	for _, args := range [][]string{{"ssh", "--nope", "gw"}, {"ssh", "gw", "-L"}, {"serve", "--listen"}, {"proxy", "-x"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want 2", args, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "tunnelkit "+args[0]+": ") || lines[1] != "run 'tunnelkit "+args[0]+" -h' for help" {
			t.Errorf("%v printed %q, want the error and a one-line hint", args, out)
		}
	}
	out, err := exec.Command(bin, "ssh", "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-accept-new-host-key") {
		t.Errorf("ssh -h: %v\n%s", err, out)
	}
}

func TestVersion(t *testing.T) {
	bin := buildTunnelkit(t)
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil || !strings.HasPrefix(string(out), "tunnelkit ") || !strings.Contains(string(out), "go1.") {
			t.Errorf("tunnelkit %s: %q, %v", arg, out, err)
		}
	}
}

// TestMissingFileNamesFlag: a file that is not there is named by its flag.
func TestMissingFileNamesFlag(t *testing.T) {
	bin := buildTunnelkit(t)
	missing := filepath.Join(t.TempDir(), "nope")
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"serve", "--config", missing}, "--config"},
		{[]string{"serve", "--rules", missing}, "--rules"},
		{[]string{"serve", "--token-file", missing}, "--token-file"},
		{[]string{"proxy", "--relay", "ws://127.0.0.1:1", "--token-file", missing, "127.0.0.1:22"}, "--token-file"},
		{[]string{"ssh", "--relay", "ws://127.0.0.1:1", "--token-file", missing, "-L", "0:db:1", "--host-key", "SHA256:x", "u@127.0.0.1"}, "--token-file"},
	} {
		out, _ := exec.Command(bin, c.args...).CombinedOutput()
		if !strings.Contains(string(out), c.flag) || !strings.Contains(string(out), missing) {
			t.Errorf("%v: %q does not name %s and the file", c.args, out, c.flag)
		}
	}
}

// TestHostKeyHint: the terminal names the flags the library does not.
func TestHostKeyHint(t *testing.T) {
	err := terminalError(&tunnel.HostKeyError{Kind: tunnel.HostKeyUnknown, Addr: "gw:22", KeyType: "ssh-ed25519", Fingerprint: "SHA256:abc"})
	for _, want := range []string{"unknown host key for gw:22", "--accept-new-host-key", "--host-key SHA256:abc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	var hke *tunnel.HostKeyError
	if !errors.As(err, &hke) {
		t.Error("the hint lost the HostKeyError")
	}
}
