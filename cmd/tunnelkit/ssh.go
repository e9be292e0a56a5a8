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
  -D [entry_address:]entry_port
      dynamic forward: a SOCKS proxy (SOCKS5, SOCKS4, SOCKS4a) listens here;
      the gateway connects each request on to what the client asked for,
      resolving host names itself (point a browser or curl --socks5-hostname
      at it).

The entry address defaults to localhost; "*" means all interfaces; port 0
lets the listener pick (the bound port is logged). IPv6 goes in brackets.

examples:
  tunnelkit ssh -L 5432:db.internal:5432 alice@gateway.example.com
  tunnelkit ssh -L 127.0.0.2:8080:intranet:80 -L 0:[fd00::5]:22 -p 2222 gateway
  tunnelkit ssh -R 8080:localhost:3000 alice@gateway.example.com
  tunnelkit ssh -D 1080 alice@gateway.example.com
  tunnelkit ssh --relay wss://relay.example.com -L 5432:db:5432 alice@gateway

Authentication tries, in order: keys (-i, else ~/.ssh/id_ed25519, id_ecdsa,
id_rsa), the agent at $SSH_AUTH_SOCK, then the password ($TUNNELKIT_PASSWORD,
else asked on the terminal). Key passphrases come from $TUNNELKIT_PASSPHRASE,
else the terminal. The relay token comes from --token-file, else
$TUNNELKIT_TOKEN.

flags:
`

// sshOptions is the command line of tunnelkit ssh.
type sshOptions struct {
	target     string // [USER@]HOST
	specs      []tunnel.Spec
	keys       repeated
	port       int
	login      string
	knownHosts string
	acceptNew  bool
	pin        string
	relayURL   string
	tokenFile  string
	timeout    time.Duration
	verbose    bool
	set        map[string]bool // flags given on the command line
}

func runSSH(ctx context.Context, args []string) error {
	o, err := parseSSHArgs(args)
	if err != nil {
		return err
	}
	logger := o.logger()
	plan, err := o.plan(logger)
	if err != nil {
		return err
	}
	defer plan.auth.close()
	return plan.run(ctx)
}

func sshFlags(o *sshOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("ssh", flag.ContinueOnError)
	fs.Var(specList{tunnel.Local, &o.specs}, "L", "local forward `SPEC` (repeatable)")
	fs.Var(specList{tunnel.Remote, &o.specs}, "R", "remote forward `SPEC` (repeatable)")
	fs.Var(specList{tunnel.Dynamic, &o.specs}, "D", "dynamic forward: a SOCKS proxy on `[ADDR:]PORT` (repeatable)")
	fs.Var(&o.keys, "i", "private key `FILE` (repeatable; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	fs.IntVar(&o.port, "p", 22, "gateway `port`")
	fs.StringVar(&o.login, "l", "", "log in as `USER` (default: the local user)")
	fs.Bool("N", false, "no remote command: always so, accepted for ssh muscle memory")
	fs.StringVar(&o.knownHosts, "known-hosts", "", "known hosts `FILE` (default ~/.ssh/known_hosts)")
	fs.BoolVar(&o.acceptNew, "accept-new-host-key", false, "trust an unknown host key and add it to the known hosts file (a changed key is still refused)")
	fs.StringVar(&o.pin, "host-key", "", "trust only the host key with this `SHA256:...` fingerprint")
	fs.StringVar(&o.relayURL, "relay", "", "reach the gateway through a tunnelkit relay's dial bridge at `URL` (ws://, wss://)")
	fs.StringVar(&o.tokenFile, "token-file", "", "read the relay token from `FILE` (default: $TUNNELKIT_TOKEN)")
	fs.DurationVar(&o.timeout, "connect-timeout", 30*time.Second, "give up connecting and authenticating after this long")
	fs.BoolVar(&o.verbose, "v", false, "log debug detail, such as each connection as it opens")
	return fs
}

// parseSSHArgs reads the flags, which may also follow the host, as ssh allows.
func parseSSHArgs(args []string) (*sshOptions, error) {
	o := &sshOptions{}
	fs := sshFlags(o)
	if err := parseFlags(fs, sshUsage, args); err != nil {
		return nil, err
	}
	for fs.NArg() > 0 {
		rest := fs.Args()
		if o.target != "" {
			return nil, badUsage("ssh", "unexpected %q after the host %s: tunnelkit ssh runs no remote command, only forwards", rest[0], o.target)
		}
		o.target = rest[0]
		if err := parseFlags(fs, sshUsage, rest[1:]); err != nil {
			return nil, err
		}
	}
	if o.target == "" {
		return nil, badUsage("ssh", "want [USER@]HOST")
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	return o, nil
}

func (o *sshOptions) logger() *slog.Logger {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// sshPlan is what tunnelkit ssh will do, from the options: connect to
// addr with cfg and run specs.
type sshPlan struct {
	addr      string
	specs     []tunnel.Spec
	cfg       tunnel.Config
	auth      *sshAuth
	relayURL  string
	tokenFile string
	timeout   time.Duration
	log       *slog.Logger
}

// plan checks the options and turns them into a connection and its forwards.
func (o *sshOptions) plan(logger *slog.Logger) (*sshPlan, error) {
	if len(o.specs) == 0 {
		return nil, badUsage("ssh", "nothing to do: give at least one -L or -R forward, or -D")
	}
	userName, host, err := parseTarget(o.target, o.login)
	if err != nil {
		return nil, err
	}
	if o.port < 1 || o.port > 65535 {
		return nil, badUsage("ssh", "bad port %d for -p", o.port)
	}
	p := &sshPlan{
		addr:  net.JoinHostPort(host, strconv.Itoa(o.port)),
		specs: o.specs, relayURL: o.relayURL, tokenFile: o.tokenFile, timeout: o.timeout, log: logger,
		cfg: tunnel.Config{User: userName, Logger: logger},
	}
	if p.cfg.HostKey, err = o.hostKeyPolicy(); err != nil {
		return nil, err
	}
	if p.auth, err = loadAuth(o.keys, logger); err != nil {
		return nil, err
	}
	p.cfg.Signers, p.cfg.AuthMethods, p.cfg.Password = p.auth.signers, p.auth.methods, p.auth.password
	return p, nil
}

func (o *sshOptions) hostKeyPolicy() (tunnel.HostKeyPolicy, error) {
	pol := tunnel.HostKeyPolicy{Fingerprint: o.pin, AcceptNew: o.acceptNew, KnownHostsFile: o.knownHosts}
	if pol.KnownHostsFile == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return pol, fmt.Errorf("no home directory for ~/.ssh/known_hosts (%v): pass --known-hosts FILE", err)
		}
		pol.KnownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
	}
	if isTerminal() {
		pol.Confirm = confirmHostKey
	}
	return pol, nil
}

// run connects, starts every forward and waits for an interrupt or the end
// of the connection.
func (p *sshPlan) run(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	c, err := connectGateway(cctx, p.addr, p.relayURL, p.tokenFile, p.cfg)
	cancel()
	if err != nil {
		return terminalError(err)
	}
	defer c.Close()

	for _, sp := range p.specs {
		if _, err := c.Forward(ctx, sp); err != nil {
			if ctx.Err() != nil {
				return errors.New("interrupted while setting up forwards")
			}
			return fmt.Errorf("forward %s failed, stopping (like ssh's ExitOnForwardFailure): %w", sp, err)
		}
	}
	select {
	case <-ctx.Done():
		p.log.Info("interrupted, closing forwards")
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
			return fmt.Errorf("connection to gateway %s ended: %w", p.addr, err)
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
