package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"tunnelkit/relay/client"
	"tunnelkit/tunnel"
)

func init() { commands["ssh"] = runSSH }

const sshUsage = `usage: tunnelkit ssh [flags] [USER@]HOST

Connects to the SSH gateway HOST and runs port forwards until interrupted,
like "ssh -N". A forward that cannot be set up is fatal, as with OpenSSH's
ExitOnForwardFailure.

  -L [entry_address:]entry_port:exit_host:exit_port
      local forward: listen here on the entry socket; the gateway connects
      each connection on to the exit socket.
  -R [entry_address:]entry_port:exit_host:exit_port
      remote forward: the gateway listens on the entry socket; each
      connection comes back here and is connected on to the exit socket.

The entry address defaults to localhost; "*" means all interfaces; port 0
lets the listener pick (the bound port is logged). IPv6 goes in brackets.

examples:
  tunnelkit ssh -L 5432:db.internal:5432 alice@gateway.example.com
  tunnelkit ssh -L 127.0.0.2:8080:intranet:80 -L 0:[fd00::5]:22 -p 2222 gateway
  tunnelkit ssh -R 8080:localhost:3000 alice@gateway.example.com
  tunnelkit ssh --relay wss://relay.example.com -L 5432:db:5432 alice@gateway

Authentication tries, in order: keys (-i, else ~/.ssh/id_ed25519, id_ecdsa,
id_rsa), the agent at $SSH_AUTH_SOCK, then the password ($TUNNELKIT_PASSWORD,
else asked on the terminal). Key passphrases come from $TUNNELKIT_PASSPHRASE,
else the terminal. The relay token comes from --token-file, else
$TUNNELKIT_TOKEN.

flags:
`

// specList collects repeated -L or -R flags, in order, into one list.
type specList struct {
	kind  tunnel.Kind
	specs *[]tunnel.Spec
}

func (l specList) String() string { return "" }

func (l specList) Set(s string) error {
	sp, err := tunnel.ParseSpec(l.kind, s)
	if err != nil {
		return err
	}
	*l.specs = append(*l.specs, sp)
	return nil
}

// stringList collects a repeated flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func runSSH(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ssh", flag.ContinueOnError)
	var specs []tunnel.Spec
	var keys stringList
	fs.Var(specList{tunnel.Local, &specs}, "L", "local forward `SPEC` (repeatable)")
	fs.Var(specList{tunnel.Remote, &specs}, "R", "remote forward `SPEC` (repeatable)")
	fs.Var(&keys, "i", "private key `FILE` (repeatable; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	port := fs.Int("p", 22, "gateway `port`")
	login := fs.String("l", "", "log in as `USER` (default: the local user)")
	fs.Bool("N", false, "no remote command: always so, accepted for ssh muscle memory")
	knownHosts := fs.String("known-hosts", "", "known hosts `FILE` (default ~/.ssh/known_hosts)")
	acceptNew := fs.Bool("accept-new-host-key", false, "trust an unknown host key and add it to the known hosts file (a changed key is still refused)")
	pin := fs.String("host-key", "", "trust only the host key with this `SHA256:...` fingerprint")
	relayURL := fs.String("relay", "", "reach the gateway through a tunnelkit relay's dial bridge at `URL` (ws://, wss://)")
	tokenFile := fs.String("token-file", "", "read the relay token from `FILE` (default: $TUNNELKIT_TOKEN)")
	timeout := fs.Duration("connect-timeout", 30*time.Second, "give up connecting and authenticating after this long")
	verbose := fs.Bool("v", false, "log debug detail, such as each connection as it opens")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), sshUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one [USER@]HOST after the flags")
	}
	if len(specs) == 0 {
		return errors.New("nothing to do: give at least one -L or -R forward")
	}
	userName, host, err := parseTarget(fs.Arg(0), *login)
	if err != nil {
		return err
	}
	if *port < 1 || *port > 65535 {
		return fmt.Errorf("bad port %d for -p", *port)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(*port))

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := tunnel.Config{User: userName, Logger: logger}
	auth, err := loadAuth(keys, logger)
	if err != nil {
		return err
	}
	defer auth.close()
	cfg.Signers, cfg.AuthMethods, cfg.Password = auth.signers, auth.methods, auth.password

	cfg.HostKey = tunnel.HostKeyPolicy{Fingerprint: *pin, AcceptNew: *acceptNew, KnownHostsFile: *knownHosts}
	if cfg.HostKey.KnownHostsFile == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no home directory for ~/.ssh/known_hosts (%v): pass --known-hosts FILE", err)
		}
		cfg.HostKey.KnownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
	}
	if isTerminal() {
		cfg.HostKey.Confirm = confirmHostKey
	}

	cctx, cancel := context.WithTimeout(ctx, *timeout)
	c, err := connectGateway(cctx, addr, *relayURL, *tokenFile, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()

	for _, sp := range specs {
		if _, err := c.Forward(ctx, sp); err != nil {
			if ctx.Err() != nil {
				return errors.New("interrupted while setting up forwards")
			}
			return fmt.Errorf("forward %s failed, stopping (like ssh's ExitOnForwardFailure): %w", sp, err)
		}
	}
	select {
	case <-ctx.Done():
		logger.Info("interrupted, closing forwards")
		// Close each forward before the connection, so the gateway confirms
		// it stopped listening on every -R entry socket before we exit.
		var wg sync.WaitGroup
		for _, f := range c.Forwards() {
			wg.Go(func() { f.Close() })
		}
		wg.Wait()
		return c.Close()
	case <-c.Done():
		if err := c.Wait(); err != nil {
			return fmt.Errorf("connection to gateway %s ended: %w", addr, err)
		}
		return nil
	}
}

// connectGateway dials addr directly, or through the relay's dial bridge,
// and runs the SSH handshake.
func connectGateway(ctx context.Context, addr, relayURL, tokenFile string, cfg tunnel.Config) (*tunnel.Client, error) {
	if relayURL == "" {
		return tunnel.Dial(ctx, addr, cfg)
	}
	token, err := readToken(tokenFile)
	if err != nil {
		return nil, err
	}
	conn, err := client.Dial(ctx, relayURL, addr, &client.Options{Token: token})
	if err != nil {
		return nil, fmt.Errorf("reach gateway %s through relay %s: %w", addr, relayURL, err)
	}
	return tunnel.Connect(ctx, conn, addr, cfg)
}

// parseTarget splits "[user@]host" (host may be a bracketed IPv6 address).
// -l wins over the local user name; user@ wins over -l, as in ssh.
func parseTarget(target, login string) (userName, host string, err error) {
	host = target
	if i := strings.LastIndex(target, "@"); i >= 0 {
		userName, host = target[:i], target[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return "", "", fmt.Errorf("no host in %q: want [USER@]HOST", target)
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", "", fmt.Errorf("bad host %q: give the port with -p, not HOST:PORT", host)
	}
	if userName == "" {
		userName = login
	}
	if userName == "" {
		u, err := user.Current()
		if err != nil {
			return "", "", fmt.Errorf("no user name (%v): give USER@HOST or -l USER", err)
		}
		userName = u.Username
	}
	return userName, host, nil
}
