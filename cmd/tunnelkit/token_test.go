package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
	"tunnelkit/relay/client"
)

// TestTokenNewHashedFile: token new prints a token and its line; a relay
// whose token file holds only that line takes the token, and its public
// /metrics is withheld beside --metrics-listen.
func TestTokenNewHashedFile(t *testing.T) {
	bin := buildTunnelkit(t)
	echo := sshtest.StartEcho(t, "127.0.0.1:0")
	out, err := exec.Command(bin, "token", "new", "--name", "alice", echo, "listen=127.0.0.1:*").Output()
	if err != nil {
		t.Fatalf("token new: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^sha256:[0-9a-f]{64} name=alice `+regexp.QuoteMeta(echo)+` listen=127\.0\.0\.1:\*$`).MatchString(lines[3]) {
		t.Fatalf("token new printed:\n%s", out)
	}
	secret, line := lines[1], lines[3]
	if strings.Contains(line, secret) {
		t.Fatal("the token file line holds the token")
	}
	if out, err := exec.Command(bin, "token", "new", "--name", "bob", "*:22").CombinedOutput(); err == nil || !strings.Contains(string(out), "wildcard") {
		t.Errorf("token new with a bad rule: %v %s", err, out)
	}

	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# made by token new\n"+line+"\n"), 0o600)
	base, logs := startRelayProcOut(t, bin, "", "serve", "--listen", "127.0.0.1:0", "--token-file", file, "--metrics-listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, base, echo, &client.Options{Token: secret})
	if err != nil {
		t.Fatalf("dial with the new token: %v", err)
	}
	c.Close()
	if c, err := client.Dial(ctx, base, echo, &client.Options{Token: strings.TrimPrefix(strings.Fields(line)[0], "sha256:")}); err == nil {
		c.Close()
		t.Fatal("the hash itself was taken as the token")
	}
	metrics := regexp.MustCompile(`metrics on (http://\S+/metrics)`).FindStringSubmatch(logs.String())
	if metrics == nil {
		t.Fatalf("serve did not print the metrics address:\n%s", logs)
	}
	for u, want := range map[string]int{base + "/metrics": 404, metrics[1]: 200, base + "/healthz": 200} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}
}

// TestServeWarnsShortTokens: a short token is named at start-up.
func TestServeWarnsShortTokens(t *testing.T) {
	bin := buildTunnelkit(t)
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("0123456789abcdef0123 name=carol 127.0.0.1:1\n"+strings.Repeat("f", 64)+" name=dave\n"), 0o600)
	_, logs := startRelayProcOut(t, bin, "", "serve", "--listen", "127.0.0.1:0", "--token-file", file)
	out := logs.String()
	// dave's 64 characters get no warning (the policy summary names him).
	if !strings.Contains(out, "warning: token carol has 20 characters") || strings.Contains(out, "token dave has") {
		t.Errorf("start-up output:\n%s", out)
	}
}
