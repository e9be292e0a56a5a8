package main

import (
	"bufio"
	"io"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"tunnelkit/internal/syncbuf"
)

// startRelayProc runs the real binary: shell (when not empty) is a sh
// command run first, e.g. "ulimit -n 256", then tunnelkit args... The URL
// it prints (serve on stderr, demo on stdout) is returned; the process is
// killed when the test ends.
func startRelayProc(t *testing.T, bin, shell string, args ...string) string {
	t.Helper()
	u, _ := startRelayProcOut(t, bin, shell, args...)
	return u
}

// startRelayProcOut is startRelayProc that also returns all it printed.
func startRelayProcOut(t *testing.T, bin, shell string, args ...string) (string, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	script := `exec "$0" "$@"`
	if shell != "" {
		script = shell + ` && exec "$0" "$@"`
	}
	cmd := exec.Command("sh", append([]string{"-c", script, bin}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		pw.Close()
	})
	urlc := make(chan string, 1)
	re := regexp.MustCompile(`(?:listening on|open) (http://127\.0\.0\.1:\d+)`)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
		io.Copy(out, pr)
	}()
	select {
	case u := <-urlc:
		return u, out
	case <-time.After(30 * time.Second):
		t.Fatalf("tunnelkit %v printed no URL within 30s:\n%s", args, out)
		return "", nil
	}
}
