package sshtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestUser is the system account used for password and keyboard-interactive
// auth (and for key auth on Dropbear, which reads ~/.ssh/authorized_keys).
const TestUser = "tunnelkit-test"

// stateDir keeps the test user's password so that test processes running at
// the same time (go test ./... runs packages in parallel) agree on it.
const stateDir = "/var/lib/tunnelkit-test"

var (
	passwordOnce sync.Once
	password     string
	passwordErr  error
)

// testUserPassword makes sure TestUser exists and returns its password,
// creating both on first use. It needs root.
func testUserPassword(t testing.TB) string {
	t.Helper()
	passwordOnce.Do(func() { password, passwordErr = setupTestUser() })
	if passwordErr != nil {
		t.Fatalf("sshtest: set up system user %s for password auth: %v (the SSH server tests run as root)", TestUser, passwordErr)
	}
	return password
}

func setupTestUser() (string, error) {
	unlock, err := lockState()
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := user.Lookup(TestUser); err != nil {
		if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", TestUser).CombinedOutput(); err != nil {
			return "", fmt.Errorf("useradd: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	file := filepath.Join(stateDir, "password")
	pw, err := os.ReadFile(file)
	if err != nil || len(bytes.TrimSpace(pw)) == 0 {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		pw = []byte(fmt.Sprintf("%x", b))
		if err := os.WriteFile(file, pw, 0o600); err != nil {
			return "", err
		}
	}
	p := string(bytes.TrimSpace(pw))
	// Set it every time: cheap, and repairs a password changed by hand.
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(TestUser + ":" + p + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("chpasswd: %v: %s", err, bytes.TrimSpace(out))
	}
	return p, nil
}

// lockState takes an exclusive lock shared with other test processes.
func lockState() (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// authorizeTestUserKey adds key to TestUser's ~/.ssh/authorized_keys until
// the test ends.
func authorizeTestUserKey(t testing.TB, key []byte) {
	t.Helper()
	testUserPassword(t)
	u, err := user.Lookup(TestUser)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join(u.HomeDir, ".ssh")
	file := filepath.Join(dir, "authorized_keys")
	line := strings.TrimSpace(string(key))
	edit := func(add bool) error {
		unlock, err := lockState()
		if err != nil {
			return err
		}
		defer unlock()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		os.Chown(dir, uid, gid)
		old, _ := os.ReadFile(file)
		var keep []string
		for _, l := range strings.Split(string(old), "\n") {
			if l = strings.TrimSpace(l); l != "" && l != line {
				keep = append(keep, l)
			}
		}
		if add {
			keep = append(keep, line)
		}
		data := strings.Join(keep, "\n")
		if data != "" {
			data += "\n"
		}
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			return err
		}
		return os.Chown(file, uid, gid)
	}
	// Servers of one test process share the key: the line stays until the
	// last of them stops.
	authorizedMu.Lock()
	defer authorizedMu.Unlock()
	if authorizedUsers[line] == 0 {
		if err := edit(true); err != nil {
			t.Fatalf("sshtest: authorize key for %s: %v", TestUser, err)
		}
	}
	authorizedUsers[line]++
	t.Cleanup(func() {
		authorizedMu.Lock()
		defer authorizedMu.Unlock()
		if authorizedUsers[line]--; authorizedUsers[line] > 0 {
			return
		}
		if err := edit(false); err != nil {
			t.Logf("sshtest: remove key from %s: %v", file, err)
		}
	})
}

var (
	authorizedMu    sync.Mutex
	authorizedUsers = map[string]int{} // authorized_keys line -> servers using it
)
