package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tunnelkit/internal/sshtest"
)

// nginx runs the Debian nginx with a test's config, on loopback only.
type nginx struct {
	Addr string // 127.0.0.1:PORT it listens on
	Dir  string // its prefix: logs, pid, temp files
}

// nginxPreamble is the top of every test config: all files in dir, one
// worker, temp paths it may write as an unprivileged worker.
func nginxPreamble(dir string) string {
	return fmt.Sprintf(`worker_processes 1;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 1024; }
`, dir)
}

// nginxTempPaths keeps nginx's temp files in dir (inside http {}).
func nginxTempPaths(dir string) string {
	return fmt.Sprintf(`client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy;
fastcgi_temp_path %[1]s/fastcgi; uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
`, dir)
}

// startNginx writes conf (a whole nginx.conf) into a new prefix dir, runs
// nginx in the foreground and waits until addr accepts connections. It
// stops nginx when the test ends. Under CI a missing nginx fails.
func startNginx(t *testing.T, dir, conf, addr string) *nginx {
	t.Helper()
	bin := sshtest.RequireBinary(t, "nginx")
	os.Chmod(dir, 0o755) // workers run as an unprivileged user under root
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-c", file, "-p", dir, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", tail(string(b), 4000))
		}
	})
	for i := 0; i < 100; i++ {
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v\n%s", err, out.String())
		default:
		}
		if connectable(addr) {
			return &nginx{Addr: addr, Dir: dir}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nginx does not accept on %s\n%s", addr, out.String())
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// lines returns the buffer's lines that contain every one of want.
func (b *syncBuffer) lines(want ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		ok := l != ""
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}
