package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay"
)

// TestConnectPassword connects with a password and a pinned host key, then
// closes the session: s.closed resolves and the session refuses new forwards.
func TestConnectPassword(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	ready := openPage(t, ctx, st.PageURL)
	idle := jsPageState(t, ctx)
	connected := mustJS[float64](t, ctx, connectJS(st, "")+` return performance.now();`)
	t.Logf("page load to tunnelkit.ready %.0f ms, to connected %.0f ms", ready, connected)

	if got := mustJS[string](t, ctx, `return s.hostKey;`); got != st.SSHD.HostKeyFingerprint {
		t.Errorf("s.hostKey = %q, want %q", got, st.SSHD.HostKeyFingerprint)
	}
	if ps := jsPageState(t, ctx); ps.Sessions != 1 || ps.Streams != 1 || ps.Goroutines <= idle.Goroutines {
		t.Errorf("tunnelkit.debug() = %+v while connected (idle: %+v), want 1 session, 1 stream, more goroutines", ps, idle)
	} else {
		t.Logf("page goroutines: %d idle, %d connected", idle.Goroutines, ps.Goroutines)
	}
	if n := relayStreams(t, st); n != 1 {
		t.Errorf("relay has %d streams open for one session, want 1", n)
	}
	closed := mustJS[string](t, ctx, `
		await s.close();
		await s.closed; // resolves after close()
		try { await s.forward("-L 0:127.0.0.1:1"); } catch (e) { return e.message; }
		return "forward after close succeeded";`)
	if !strings.Contains(closed, "closed") {
		t.Errorf("forward after close: %q, want an error saying the session is closed", closed)
	}
	checkNoStreams(t, st)
	checkPageIdle(t, ctx, idle)
}

// TestConnectOnHostKey lets an async onHostKey accept the gateway's key: it
// is asked with the right fingerprint.
func TestConnectOnHostKey(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)

	asked := mustJS[string](t, ctx, `
		let asked = "";
		const s = await tunnelkit.connect({
			host: `+jsString(st.SSHD.Host())+`, port: `+fmt.Sprint(st.SSHD.Port())+`,
			user: `+jsString(st.SSHD.PasswordUser)+`, password: `+jsString(st.SSHD.Password)+`,
			onHostKey: async (fp) => { asked = fp; await new Promise(r => setTimeout(r, 50)); return true; },
		});
		if (s.hostKey !== asked) throw new Error("hostKey " + s.hostKey + " but asked about " + asked);
		await s.close();
		return asked;`)
	if asked != st.SSHD.HostKeyFingerprint {
		t.Errorf("onHostKey asked about %q, want %q", asked, st.SSHD.HostKeyFingerprint)
	}
}

// TestConnectEncryptedKey authenticates with an encrypted OpenSSH key and
// its passphrase; a wrong passphrase is an error saying so.
func TestConnectEncryptedKey(t *testing.T) {
	st := startStack(t)
	pem, err := os.ReadFile(st.SSHD.EncryptedKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)

	connect := func(passphrase string) string {
		return `
		const s = await tunnelkit.connect({
			host: ` + jsString(st.SSHD.Host()) + `, port: ` + fmt.Sprint(st.SSHD.Port()) + `,
			user: ` + jsString(st.SSHD.User) + `,
			privateKey: ` + jsString(string(pem)) + `, passphrase: ` + jsString(passphrase) + `,
			hostKey: ` + jsString(st.SSHD.HostKeyFingerprint) + `,
		});
		const fp = s.hostKey;
		await s.close();
		return fp;`
	}
	if fp := mustJS[string](t, ctx, connect(st.SSHD.KeyPassphrase)); fp != st.SSHD.HostKeyFingerprint {
		t.Errorf("hostKey %q, want %q", fp, st.SSHD.HostKeyFingerprint)
	}
	_, err = evalJS[string](ctx, connect(st.SSHD.KeyPassphrase+"x"))
	if err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("wrong passphrase: got %v, want an error about the passphrase", err)
	}
	_, err = evalJS[string](ctx, connect(""))
	if err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("missing passphrase: got %v, want an error asking for the passphrase", err)
	}
}

// TestHostKeyRefused checks that the client fails closed: a pinned
// fingerprint that differs is refused with both fingerprints in the
// message; with neither hostKey nor onHostKey, or onHostKey answering
// false, the key is refused too.
func TestHostKeyRefused(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	base := `host: ` + jsString(st.SSHD.Host()) + `, port: ` + fmt.Sprint(st.SSHD.Port()) + `,
		user: ` + jsString(st.SSHD.PasswordUser) + `, password: ` + jsString(st.SSHD.Password) + `,`
	wrong := otherFingerprint(t)

	t.Run("pinned mismatch", func(t *testing.T) {
		_, err := evalJS[any](ctx, `await tunnelkit.connect({`+base+` hostKey: `+jsString(wrong)+`});`)
		if err == nil {
			t.Fatal("connect with a wrong pinned host key succeeded")
		}
		for _, fp := range []string{wrong, st.SSHD.HostKeyFingerprint} {
			if !strings.Contains(err.Error(), fp) {
				t.Errorf("error %q lacks fingerprint %s", err, fp)
			}
		}
	})
	t.Run("no policy", func(t *testing.T) {
		_, err := evalJS[any](ctx, `await tunnelkit.connect({`+base+`});`)
		if err == nil {
			t.Fatal("connect without hostKey or onHostKey succeeded")
		}
		if !strings.Contains(err.Error(), st.SSHD.HostKeyFingerprint) {
			t.Errorf("error %q lacks the gateway's fingerprint", err)
		}
	})
	t.Run("onHostKey false", func(t *testing.T) {
		_, err := evalJS[any](ctx, `await tunnelkit.connect({`+base+` onHostKey: async () => false});`)
		if err == nil {
			t.Fatal("connect succeeded although onHostKey answered false")
		}
	})
	t.Run("onHostKey truthy but not true", func(t *testing.T) {
		_, err := evalJS[any](ctx, `await tunnelkit.connect({`+base+` onHostKey: () => "yes"});`)
		if err == nil {
			t.Fatal(`connect succeeded although onHostKey answered "yes", not true`)
		}
	})
	t.Run("onHostKey throws", func(t *testing.T) {
		_, err := evalJS[any](ctx, `await tunnelkit.connect({`+base+` onHostKey: async () => { throw new Error("user said no") }});`)
		if err == nil || !strings.Contains(err.Error(), "user said no") {
			t.Fatalf("got %v, want the onHostKey exception in the error", err)
		}
	})
}

// otherFingerprint returns the fingerprint of a fresh key: never the gateway's.
func otherFingerprint(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}

// TestErrors checks that each refusal reaches the page as an Error that says
// what failed and why.
func TestErrors(t *testing.T) {
	exit := sshtest.StartEcho(t, "127.0.0.1:0")
	st := startStackWith(t, stackOptions{
		SSHD:        sshtest.Options{AllowTcpForwarding: "local"}, // -R refused by the gateway
		AllowListen: []string{"127.0.0.1:0-65535"},
	})
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	idle := jsPageState(t, ctx)
	base := `host: ` + jsString(st.SSHD.Host()) + `, port: ` + fmt.Sprint(st.SSHD.Port()) + `,
		user: ` + jsString(st.SSHD.PasswordUser) + `, hostKey: ` + jsString(st.SSHD.HostKeyFingerprint) + `,`

	check := func(t *testing.T, script string, want ...string) *jsError {
		t.Helper()
		_, err := evalJS[any](ctx, script)
		var je *jsError
		if !errors.As(err, &je) {
			t.Fatalf("got %v, want a rejection", err)
		}
		for _, w := range want {
			if !strings.Contains(strings.ToLower(je.Message), strings.ToLower(w)) {
				t.Errorf("error %q does not contain %q", je.Message, w)
			}
		}
		return je
	}

	t.Run("relay refuses target", func(t *testing.T) {
		je := check(t, `await tunnelkit.connect({`+base+` password: "x", port: 1});`, "127.0.0.1:1", "allow")
		if je.Code == nil || *je.Code != 4403 {
			t.Errorf("error.code = %v, want 4403", je.Code)
		}
	})
	t.Run("auth failed", func(t *testing.T) {
		check(t, `await tunnelkit.connect({`+base+` password: "wrong password"});`, "authentication", st.SSHD.PasswordUser)
	})
	t.Run("bad options", func(t *testing.T) {
		check(t, `await tunnelkit.connect({user: "a", password: "b"});`, "host")
		check(t, `await tunnelkit.connect();`, "options")
	})

	mustJS[any](t, ctx, `window.s = await tunnelkit.connect({`+base+` password: `+jsString(st.SSHD.Password)+`});`)
	t.Run("gateway refuses -R", func(t *testing.T) {
		check(t, `await s.forward("-R 0:`+exit+`");`, "-R")
	})
	t.Run("relay refuses listen address", func(t *testing.T) {
		check(t, `await s.forward("-L 127.0.0.2:0:`+exit+`");`, "127.0.0.2", "allow")
	})
	t.Run("bad spec", func(t *testing.T) {
		check(t, `await s.forward("-L nonsense");`, "nonsense")
		check(t, `await s.forward(42);`, "spec")
	})
	mustJS[any](t, ctx, `await s.close();`)
	checkNoStreams(t, st)
	checkPageIdle(t, ctx, idle) // failed connects and forwards leave nothing behind
}

// TestToken connects through a relay that requires a token, naming the
// relay explicitly: the token reaches the dial and listen bridges alike,
// and without it the relay's refusal (4401) reaches the page.
func TestToken(t *testing.T) {
	const secret = "e2e-token-0123456789"
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	st := startStackWith(t, stackOptions{Tokens: []relay.Token{{Secret: secret}}})
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	opts := `relay: ` + jsString(st.RelayURL) + `,
		host: ` + jsString(st.SSHD.Host()) + `, port: ` + fmt.Sprint(st.SSHD.Port()) + `,
		user: ` + jsString(st.SSHD.PasswordUser) + `, password: ` + jsString(st.SSHD.Password) + `,
		hostKey: ` + jsString(st.SSHD.HostKeyFingerprint) + `,`

	_, err := evalJS[any](ctx, `await tunnelkit.connect({`+opts+`});`)
	var je *jsError
	if !errors.As(err, &je) || je.Code == nil || *je.Code != 4401 {
		t.Fatalf("connect without token: got %v, want a rejection with code 4401", err)
	}
	entry := mustJS[string](t, ctx, `window.s = await tunnelkit.connect({`+opts+` token: `+jsString(secret)+`});
		window.f = await s.forward("-L 127.0.0.1:0:`+echo+`");
		return f.entry;`)
	if err := echoOnce(entry, 64<<10, 7); err != nil {
		t.Fatalf("-L through a token relay: %v", err)
	}
	mustJS[any](t, ctx, `await s.close();`)
}
