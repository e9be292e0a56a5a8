package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"tunnelkit/internal/relaytest"
	"tunnelkit/internal/sshtest"
	"tunnelkit/internal/syncbuf"
	"tunnelkit/relay"
)

// TestSSHCommand builds tunnelkit and runs "tunnelkit ssh" against a real
// sshd, as a user would.
func TestSSHCommand(t *testing.T) {
	gw := sshtest.StartOpenSSH(t, sshtest.Options{})
	bin := buildTunnelkit(t)
	keyArgs := []string{"-i", gw.ClientKeyFile, "--known-hosts", gw.KnownHostsFile, "-p", strconv.Itoa(gw.Port())}

	t.Run("forwards", func(t *testing.T) {
		pinger := sshtest.StartPinger(t, "127.0.0.5:0")
		local := sshtest.FreePort(t, "127.0.0.1")
		remote := sshtest.FreePort(t, "127.0.0.1")
		p := startTunnelkit(t, bin, nil, append(keyArgs, "-N",
			"-L", fmt.Sprintf("%d:%s", local, pinger),
			"-R", fmt.Sprintf("%d:%s", remote, pinger),
			"-L", "0:"+pinger,
			"-l", gw.User, gw.Host())...)
		entries := p.forwardsUp(t, 3)
		if portOf(t, entries[0]) != local || portOf(t, entries[1]) != remote || portOf(t, entries[2]) == 0 {
			t.Fatalf("forwards came up on %v, want ports %d, %d and an allocated one", entries, local, remote)
		}
		for _, addr := range []string{entries[0], hostPortOf("127.0.0.1", remote), entries[2]} {
			sshPing(t, addr)
		}
		p.waitLog(t, regexp.MustCompile(`msg="connection closed".*bytesIn=\d+`))
		p.interrupt(t)
		if err := p.wait(t); err != nil {
			t.Fatalf("exit after interrupt: %v", err)
		}
		for _, addr := range []string{entries[0], hostPortOf("127.0.0.1", remote), entries[2]} {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still accepts after exit", addr)
			}
		}
	})

	t.Run("default key and known_hosts", func(t *testing.T) {
		home := t.TempDir()
		os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
		copyFile(t, gw.ClientKeyFile, filepath.Join(home, ".ssh", "id_ed25519"))
		copyFile(t, gw.KnownHostsFile, filepath.Join(home, ".ssh", "known_hosts"))
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		p := startTunnelkit(t, bin, []string{"HOME=" + home}, "-p", strconv.Itoa(gw.Port()), "-L", "0:"+pinger, gw.User+"@"+gw.Host())
		sshPing(t, p.forwardsUp(t, 1)[0])
	})

	t.Run("agent", func(t *testing.T) {
		sock := startAgent(t, gw.ClientKeyFile)
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		p := startTunnelkit(t, bin, []string{"SSH_AUTH_SOCK=" + sock}, "--known-hosts", gw.KnownHostsFile, "-p", strconv.Itoa(gw.Port()), "-L", "0:"+pinger, gw.User+"@"+gw.Host())
		sshPing(t, p.forwardsUp(t, 1)[0])
	})

	t.Run("password", func(t *testing.T) {
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		p := startTunnelkit(t, bin, []string{"TUNNELKIT_PASSWORD=" + gw.Password}, "--known-hosts", gw.KnownHostsFile, "-p", strconv.Itoa(gw.Port()), "-L", "0:"+pinger, gw.PasswordUser+"@"+gw.Host())
		sshPing(t, p.forwardsUp(t, 1)[0])

		bad := startTunnelkit(t, bin, []string{"TUNNELKIT_PASSWORD=not-" + gw.Password}, "--known-hosts", gw.KnownHostsFile, "-p", strconv.Itoa(gw.Port()), "-L", "0:"+pinger, gw.PasswordUser+"@"+gw.Host())
		bad.failsWith(t, "authentication", gw.PasswordUser)
	})

	t.Run("encrypted key", func(t *testing.T) {
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		args := []string{"-i", gw.EncryptedKeyFile, "--known-hosts", gw.KnownHostsFile, "-p", strconv.Itoa(gw.Port()), "-L", "0:" + pinger, gw.User + "@" + gw.Host()}
		p := startTunnelkit(t, bin, []string{"TUNNELKIT_PASSPHRASE=" + gw.KeyPassphrase}, args...)
		sshPing(t, p.forwardsUp(t, 1)[0])
		startTunnelkit(t, bin, nil, args...).failsWith(t, "encrypted", "TUNNELKIT_PASSPHRASE")
		startTunnelkit(t, bin, []string{"TUNNELKIT_PASSPHRASE=wrong"}, args...).failsWith(t, "passphrase")
	})

	t.Run("forward failure is fatal", func(t *testing.T) {
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		first := sshtest.FreePort(t, "127.0.0.1")
		p := startTunnelkit(t, bin, nil, append(keyArgs,
			"-L", fmt.Sprintf("%d:%s", first, pinger),
			"-L", taken.Addr().String()+":"+pinger, gw.User+"@"+gw.Host())...)
		p.failsWith(t, "ExitOnForwardFailure", strconv.Itoa(portOf(t, taken.Addr().String())))
		if c, err := net.DialTimeout("tcp", hostPortOf("127.0.0.1", first), time.Second); err == nil {
			c.Close()
			t.Errorf("the forward that came up is still listening after the failure")
		}
	})

	t.Run("host key", func(t *testing.T) {
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		known := filepath.Join(t.TempDir(), "known_hosts")
		args := []string{"-i", gw.ClientKeyFile, "--known-hosts", known, "-p", strconv.Itoa(gw.Port()), "-L", "0:" + pinger}
		target := gw.User + "@" + gw.Host()
		startTunnelkit(t, bin, nil, append(args, target)...).failsWith(t, gw.HostKeyFingerprint, "--accept-new-host-key")
		if _, err := os.Stat(known); err == nil {
			t.Error("known_hosts written without --accept-new-host-key")
		}

		pinned := startTunnelkit(t, bin, nil, append(args, "--host-key", gw.HostKeyFingerprint, target)...)
		sshPing(t, pinned.forwardsUp(t, 1)[0])

		p := startTunnelkit(t, bin, nil, append(args, "--accept-new-host-key", target)...)
		sshPing(t, p.forwardsUp(t, 1)[0])
		if data, err := os.ReadFile(known); err != nil || !bytes.Contains(data, []byte(gw.HostKey.Type())) {
			t.Errorf("known_hosts after --accept-new-host-key: %q, %v", data, err)
		}
	})

	t.Run("relay", func(t *testing.T) {
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		url := relaytest.Start(t, relay.Config{Allow: []string{gw.Addr}})
		p := startTunnelkit(t, bin, nil, append(keyArgs, "--relay", url, "-L", "0:"+pinger, gw.User+"@"+gw.Host())...)
		sshPing(t, p.forwardsUp(t, 1)[0])

		refusing := relaytest.Start(t, relay.Config{Allow: []string{"127.0.0.9:22"}})
		startTunnelkit(t, bin, nil, append(keyArgs, "--relay", refusing, "-L", "0:"+pinger, gw.User+"@"+gw.Host())...).failsWith(t, "relay", gw.Addr)
	})

	t.Run("IPv6", func(t *testing.T) {
		gw6 := sshtest.StartOpenSSH(t, sshtest.Options{ListenAddr: "::1"})
		pinger := sshtest.StartPinger(t, "[::1]:0")
		p := startTunnelkit(t, bin, nil, "-i", gw6.ClientKeyFile, "--known-hosts", gw6.KnownHostsFile, "-p", strconv.Itoa(gw6.Port()),
			"-L", "[::1]:0:"+pinger, "-R", "[::1]:0:"+pinger, gw6.User+"@[::1]")
		entries := p.forwardsUp(t, 2)
		sshPing(t, entries[0])
		sshPing(t, hostPortOf("::1", portOf(t, entries[1])))
	})

	t.Run("gateway dies", func(t *testing.T) {
		gw2 := sshtest.StartOpenSSH(t, sshtest.Options{})
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		p := startTunnelkit(t, bin, nil, "--no-reconnect", "-i", gw2.ClientKeyFile, "--known-hosts", gw2.KnownHostsFile, "-p", strconv.Itoa(gw2.Port()),
			"-L", "0:"+pinger, gw2.User+"@"+gw2.Host())
		sshPing(t, p.forwardsUp(t, 1)[0])
		gw2.Kill()
		p.failsWith(t, "connection to gateway", gw2.Addr)
	})

	t.Run("terminal prompts", func(t *testing.T) {
		pinger := sshtest.StartPinger(t, "127.0.0.1:0")
		known := filepath.Join(t.TempDir(), "known_hosts")
		p := startTunnelkitTTY(t, bin, nil, "-i", gw.EncryptedKeyFile, "--known-hosts", known, "-p", strconv.Itoa(gw.Port()), "-L", "0:"+pinger, gw.User+"@"+gw.Host())
		p.answer(t, "Passphrase for "+gw.EncryptedKeyFile, gw.KeyPassphrase)
		p.answer(t, gw.HostKeyFingerprint, "yes")
		sshPing(t, p.forwardsUp(t, 1)[0])
		if data, err := os.ReadFile(known); err != nil || !bytes.Contains(data, []byte(gw.HostKey.Type())) {
			t.Errorf("known_hosts after answering yes: %q, %v", data, err)
		}

		pw := startTunnelkitTTY(t, bin, nil, "--known-hosts", gw.KnownHostsFile, "-p", strconv.Itoa(gw.Port()), "-L", "0:"+pinger, gw.PasswordUser+"@"+gw.Host())
		pw.answer(t, "Password:", gw.Password)
		sshPing(t, pw.forwardsUp(t, 1)[0])
		if strings.Contains(pw.output(), gw.Password) {
			t.Error("the password was echoed")
		}

		no := startTunnelkitTTY(t, bin, nil, "-i", gw.ClientKeyFile, "--known-hosts", filepath.Join(t.TempDir(), "kh"), "-p", strconv.Itoa(gw.Port()), "-L", "0:"+pinger, gw.User+"@"+gw.Host())
		no.answer(t, gw.HostKeyFingerprint, "no")
		no.failsWith(t, "not accepted")
	})

	t.Run("usage", func(t *testing.T) {
		startTunnelkit(t, bin, nil, "-L", "nonsense", "root@127.0.0.1").failsWith(t, "nonsense")
		startTunnelkit(t, bin, nil, "root@127.0.0.1").failsWith(t, "-L or -R")
		out, _ := exec.Command(bin, "ssh", "-h").CombinedOutput()
		for _, want := range []string{"-L 5432:db.internal:5432", "-R 8080:localhost:3000", "--relay"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("usage lacks %q:\n%s", want, out)
			}
		}
	})
}

// buildTunnelkit builds the binary into the test's temporary directory.
func buildTunnelkit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tunnelkit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tunnelkit: %v\n%s", err, out)
	}
	return bin
}

// tunnelkitProc is a running "tunnelkit ssh".
type tunnelkitProc struct {
	cmd    *exec.Cmd
	stderr syncbuf.Buffer
	stdin  io.WriteCloser // the terminal, for startTunnelkitTTY
	done   chan struct{}
	err    error
}

func (p *tunnelkitProc) output() string { return p.stderr.String() }

// startTunnelkit runs "tunnelkit ssh args..." with a clean environment (an
// empty HOME, no agent) plus env, stdin not a terminal. It is killed when
// the test ends.
func startTunnelkit(t *testing.T, bin string, env []string, args ...string) *tunnelkitProc {
	t.Helper()
	p := &tunnelkitProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"ssh"}, args...)...)
	p.cmd.Stderr = &p.stderr
	p.start(t, env, args)
	return p
}

// startTunnelkitTTY runs "tunnelkit ssh args..." on a terminal (script(1)
// makes one); answer writes to it.
func startTunnelkitTTY(t *testing.T, bin string, env []string, args ...string) *tunnelkitProc {
	t.Helper()
	script := sshtest.RequireBinary(t, "script")
	line := shellQuote(bin) + " ssh"
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	p := &tunnelkitProc{done: make(chan struct{})}
	p.cmd = exec.Command(script, "-qefc", line, "/dev/null")
	p.cmd.Stdout = &p.stderr
	in, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = in
	p.start(t, env, args)
	return p
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// start runs the command with a clean environment (an empty HOME, no agent)
// plus env. It is killed when the test ends.
func (p *tunnelkitProc) start(t *testing.T, env, args []string) {
	t.Helper()
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if p.stdin != nil {
			p.stdin.Close()
		}
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tunnelkit ssh %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
}

// answer waits for prompt on the terminal, then types reply.
func (p *tunnelkitProc) answer(t *testing.T, prompt, reply string) {
	t.Helper()
	p.waitFor(t, func(out string) bool { return strings.Contains(out, prompt) })
	if _, err := io.WriteString(p.stdin, reply+"\n"); err != nil {
		t.Fatal(err)
	}
}

var forwardUpRE = regexp.MustCompile(`msg="forward up".* entry=(\S+)`)

// forwardsUp waits for n "forward up" log lines and returns their entry sockets.
func (p *tunnelkitProc) forwardsUp(t *testing.T, n int) []string {
	t.Helper()
	var entries []string
	p.waitFor(t, func(out string) bool {
		entries = entries[:0]
		for _, m := range forwardUpRE.FindAllStringSubmatch(out, -1) {
			entries = append(entries, m[1])
		}
		return len(entries) >= n
	})
	return entries
}

func (p *tunnelkitProc) waitLog(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	p.waitFor(t, re.MatchString)
}

// waitFor waits (bounded) until ok accepts the output so far; the process
// exiting first is a failure.
func (p *tunnelkitProc) waitFor(t *testing.T, ok func(string) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !ok(p.output()) {
		select {
		case <-p.done:
			if ok(p.output()) {
				return
			}
			t.Fatalf("tunnelkit exited (%v) before the expected output", p.err)
		case <-deadline:
			t.Fatal("timed out waiting for tunnelkit's output")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *tunnelkitProc) interrupt(t *testing.T) {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
}

func (p *tunnelkitProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(20 * time.Second):
		t.Fatal("tunnelkit did not exit")
		return nil
	}
}

// failsWith waits for the process to fail and checks that its error output
// says each of wants.
func (p *tunnelkitProc) failsWith(t *testing.T, wants ...string) {
	t.Helper()
	if err := p.wait(t); err == nil {
		t.Fatalf("tunnelkit succeeded, want a failure mentioning %q", wants)
	}
	out := p.output()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("error output lacks %q:\n%s", w, out)
		}
	}
}

// sshPing checks a pinger through the forward at addr.
func sshPing(t *testing.T, addr string) {
	t.Helper()
	if err := sshtest.Ping("", addr, "hi"); err != nil {
		t.Fatalf("ping through %s: %v", addr, err)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func hostPortOf(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startAgent serves an SSH agent holding the key in keyFile on a unix socket.
func startAgent(t *testing.T, keyFile string) string {
	t.Helper()
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return sock
}
