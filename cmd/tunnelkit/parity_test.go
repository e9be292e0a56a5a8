package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/internal/syncbuf"
)

// webExit serves a random file at /blob on a loopback port; it returns
// the file's URL by name ("localhost", for the gateway to resolve) and its SHA-256.
func webExit(t *testing.T) (url, sum string) {
	t.Helper()
	blob := make([]byte, 1<<20+777)
	rand.Read(blob)
	h := sha256.Sum256(blob)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://localhost:%d/blob", portOf(t, ln.Addr().String())), hex.EncodeToString(h[:])
}

// curlThrough fetches url through the SOCKS proxy with curl's proxyFlag
// and checks the body's SHA-256.
func curlThrough(t *testing.T, proxyFlag, proxy, url, sum string) {
	t.Helper()
	curl := sshtest.RequireBinary(t, "curl")
	cmd := exec.Command(curl, "-sS", "--fail", "--max-time", "20", proxyFlag, proxy, url)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	body, err := cmd.Output()
	if err != nil {
		t.Errorf("curl %s %s %s: %v", proxyFlag, proxy, url, err)
		return
	}
	if h := sha256.Sum256(body); hex.EncodeToString(h[:]) != sum {
		t.Errorf("curl %s %s: SHA-256 %x, want %s", proxyFlag, proxy, h, sum)
	}
}

// waitUp waits until addr accepts connections.
func waitUp(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never came up: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDown waits until nothing listens on addr any more.
func waitDown(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still listening", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSSHConfigParity: one ssh config file (a Host block with ProxyJump to
// a bastion defined in an Included file, and a forward of each kind) runs
// under OpenSSH's "ssh -F FILE -N" and then under "tunnelkit ssh -F FILE",
// which bring up the same forwards; the gateway on 127.0.0.2 is reached
// through the bastion, whose log shows the hop.
func TestSSHConfigParity(t *testing.T) {
	sshBin := sshtest.RequireBinary(t, "ssh")
	bastion := sshtest.StartOpenSSH(t, sshtest.Options{})
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.2"})
	bin := buildTunnelkit(t)
	pinger := sshtest.StartPinger(t, "127.0.0.1:0")
	url, sum := webExit(t)

	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	b1, _ := os.ReadFile(bastion.KnownHostsFile)
	b2, _ := os.ReadFile(gw.KnownHostsFile)
	os.WriteFile(kh, append(b1, b2...), 0o600)
	lport, rport, dport := sshtest.FreePort(t, "127.0.0.1"), sshtest.FreePort(t, "127.0.0.1"), sshtest.FreePort(t, "127.0.0.1")
	include := filepath.Join(dir, "bastion.conf")
	os.WriteFile(include, []byte(fmt.Sprintf(`Host tk-bastion
  HostName %s
  Port %d
`, bastion.Host(), bastion.Port())), 0o600)
	config := filepath.Join(dir, "config")
	os.WriteFile(config, []byte(fmt.Sprintf(`Include %s

Host tk-gw
  HostName %s
  Port %d
  ProxyJump tk-bastion
  LocalForward 127.0.0.1:%d %s
  RemoteForward 127.0.0.1:%d %s
  DynamicForward 127.0.0.1:%d
  ExitOnForwardFailure yes
  ServerAliveInterval 5
  ServerAliveCountMax 3

Host *
  User root
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
`, include, gw.Host(), gw.Port(), lport, pinger, rport, pinger, dport, gw.ClientKeyFile, kh)), 0o600)

	lentry, rentry, dentry := hostPortOf("127.0.0.1", lport), hostPortOf("127.0.0.1", rport), hostPortOf("127.0.0.1", dport)
	check := func() {
		t.Helper()
		for _, a := range []string{lentry, rentry, dentry} {
			waitUp(t, a)
		}
		sshPing(t, lentry)
		sshPing(t, rentry)
		curlThrough(t, "--socks5-hostname", dentry, url, sum)
		curlThrough(t, "--socks4a", dentry, url, sum)
	}

	// OpenSSH first: the file is valid ssh_config and does what it says.
	var sshErr syncbuf.Buffer
	ossh := exec.Command(sshBin, "-F", config, "-N", "tk-gw")
	ossh.Stderr = &sshErr
	ossh.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if err := ossh.Start(); err != nil {
		t.Fatal(err)
	}
	sshDone := make(chan error, 1)
	go func() { sshDone <- ossh.Wait() }()
	t.Cleanup(func() {
		ossh.Process.Kill()
		if t.Failed() {
			t.Logf("ssh -F stderr:\n%s", sshErr.String())
		}
	})
	check()
	ossh.Process.Kill()
	<-sshDone
	for _, a := range []string{lentry, rentry, dentry} {
		waitDown(t, a)
	}
	before, _ := os.ReadFile(bastion.LogFile)

	// Then tunnelkit, flags after the alias as ssh allows.
	p := startTunnelkit(t, bin, nil, "-F", config, "tk-gw", "-v")
	if entries := p.forwardsUp(t, 3); len(entries) != 3 {
		t.Fatalf("forwards up: %v", entries)
	}
	check()
	after, _ := os.ReadFile(bastion.LogFile)
	hop := regexp.MustCompile(fmt.Sprintf(`server_request_direct_tcpip: originator .*, target %s port %d`, regexp.QuoteMeta(gw.Host()), gw.Port()))
	if !hop.Match(after[len(before):]) {
		t.Errorf("the bastion's log shows no hop to %s for tunnelkit", gw.Addr)
	}
	p.interrupt(t)
	if err := p.wait(t); err != nil {
		t.Errorf("tunnelkit exit after interrupt: %v", err)
	}
}

// TestSSHJumpAndSOCKS: -J on the command line with -D; a changed key on the
// jump host is refused, naming the jump host.
func TestSSHJumpAndSOCKS(t *testing.T) {
	bastion := sshtest.StartOpenSSH(t, sshtest.Options{})
	gw := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.2"})
	other := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "127.0.0.3"})
	bin := buildTunnelkit(t)
	url, sum := webExit(t)

	kh := filepath.Join(t.TempDir(), "known_hosts")
	b1, _ := os.ReadFile(bastion.KnownHostsFile)
	b2, _ := os.ReadFile(gw.KnownHostsFile)
	os.WriteFile(kh, append(b1, b2...), 0o600)
	jump := fmt.Sprintf("root@%s:%d", bastion.Host(), bastion.Port())
	args := []string{"-F", "none", "-i", gw.ClientKeyFile, "--known-hosts", kh, "-p", fmt.Sprint(gw.Port()), "-J", jump, "-D", "127.0.0.1:0", "root@" + gw.Host()}
	p := startTunnelkit(t, bin, nil, args...)
	entry := p.forwardsUp(t, 1)[0]
	curlThrough(t, "--socks5-hostname", entry, url, sum)
	p.interrupt(t)
	p.wait(t)

	// The bastion's known_hosts line now holds another server's key.
	changed := bytes.Replace(b1, bytes.Fields(b1)[2], bytes.Fields(mustRead(t, other.KnownHostsFile))[2], 1)
	written := append(changed, b2...)
	os.WriteFile(kh, written, 0o600)
	startTunnelkit(t, bin, nil, append(args[:len(args)-1], "--accept-new-host-key", "root@"+gw.Host())...).
		failsWith(t, "host key for "+bastion.Addr+" changed", bastion.HostKeyFingerprint)
	if !bytes.Equal(mustRead(t, kh), written) {
		t.Error("known_hosts was changed after a refused jump host key")
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
