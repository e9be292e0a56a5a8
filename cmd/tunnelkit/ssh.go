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

const sshUsage = `usage: tunnelkit ssh [flags] [USER@]HOST|ALIAS [flags]

Connects to the SSH gateway HOST and runs port forwards until interrupted,
like "ssh -N". A forward that cannot be set up is fatal, as with OpenSSH's
ExitOnForwardFailure. Flags may come before or after the host.

When the connection is lost after it was up, tunnelkit ssh connects again
(1s doubling to 30s between attempts), requires the same host key, and
restores every forward: -L and -D entry sockets stay bound meanwhile and
hold new connections (up to 32, 20s each) until the gateway is back; -R
forwards are asked for again. --no-reconnect exits instead, as ssh does.

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

  -J [user@]host[:port][,[user@]host[:port]...]
      jump hosts: reach the gateway through each in turn, as ssh -J does;
      every host key is checked against the known hosts file on its own.

HOST may be an alias of the ssh client config (-F FILE, else ~/.ssh/config):
Host and Match host blocks, Include, HostName, Port, User, IdentityFile,
IdentitiesOnly, UserKnownHostsFile, LocalForward, RemoteForward,
DynamicForward, ProxyJump, ServerAliveInterval, ServerAliveCountMax,
StrictHostKeyChecking accept-new and ClearAllForwardings apply; flags on the
command line win. ProxyCommand is refused; keywords that would change
security and are not applied (StrictHostKeyChecking no, ForwardAgent, ...)
are reported.

examples:
  tunnelkit ssh -L 5432:db.internal:5432 alice@gateway.example.com
  tunnelkit ssh -L 127.0.0.2:8080:intranet:80 -L 0:[fd00::5]:22 -p 2222 gateway
  tunnelkit ssh -R 8080:localhost:3000 alice@gateway.example.com
  tunnelkit ssh -D 1080 alice@gateway.example.com
  tunnelkit ssh -J bob@bastion.example.com -L 5432:db:5432 alice@gateway
  tunnelkit ssh -F ~/.ssh/config mygateway
  tunnelkit ssh --relay wss://relay.example.com -L 5432:db:5432 alice@gateway

Authentication tries, in order: keys (-i, else ~/.ssh/id_ed25519, id_ecdsa,
id_rsa), the agent at $SSH_AUTH_SOCK, then the password ($TUNNELKIT_PASSWORD,
else asked on the terminal). Key passphrases come from $TUNNELKIT_PASSPHRASE,
else the terminal. The relay token comes from --token-file, else
$TUNNELKIT_TOKEN.

flags:
`

// sshOptions is the command line of tunnelkit ssh, completed by the ssh
// config file (see applyConfig).
type sshOptions struct {
	target      string // [USER@]HOST or an ssh config alias, as given
	user, host  string // from the target (and -l), then the ssh config
	specs       []tunnel.Spec
	keys        repeated
	port        int
	login       string
	jump        string   // -J or ProxyJump
	configFile  string   // -F
	options     repeated // -o Keyword=Value, ssh config lines that win over the file
	knownHosts  string
	acceptNew   bool
	pin         string
	relayURL    string
	tokenFile   string
	timeout     time.Duration
	verbose     bool
	quiet       bool
	noReconnect bool
	set         map[string]bool // flags given on the command line

	configKeys     []string      // IdentityFile of the ssh config
	identitiesOnly bool          // IdentitiesOnly yes: no agent
	keepalive      time.Duration // ServerAliveInterval; 0: tunnel's default, negative: off
	keepaliveMax   int           // ServerAliveCountMax
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
	fs.StringVar(&o.jump, "J", "", "reach the gateway through jump hosts `[USER@]HOST[:PORT][,...]`, each key checked on its own")
	fs.StringVar(&o.configFile, "F", "", "ssh client config `FILE` (default ~/.ssh/config; none: no file)")
	fs.Var(&o.keys, "i", "private key `FILE` (repeatable; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	fs.IntVar(&o.port, "p", 22, "gateway `port`")
	fs.StringVar(&o.login, "l", "", "log in as `USER` (default: the local user)")
	fs.Var(&o.options, "o", "ssh config `Keyword=Value`, winning over the config file (repeatable)")
	fs.Bool("N", false, "no remote command: always so, accepted for ssh muscle memory")
	fs.Bool("T", false, "no terminal: always so, accepted for ssh muscle memory")
	fs.Bool("C", false, "compression: not supported, accepted and ignored (forwarded data is rarely worth it)")
	fs.BoolVar(&o.quiet, "q", false, "quiet: log warnings and errors only")
	fs.BoolFunc("f", "not supported: tunnelkit ssh stays in the foreground", func(string) error {
		return errors.New("-f: tunnelkit ssh does not go to the background; run it with & or under a service manager")
	})
	fs.StringVar(&o.knownHosts, "known-hosts", "", "known hosts `FILE` (default ~/.ssh/known_hosts)")
	fs.BoolVar(&o.acceptNew, "accept-new-host-key", false, "trust an unknown host key and add it to the known hosts file (a changed key is still refused)")
	fs.StringVar(&o.pin, "host-key", "", "trust only the gateway host key with this `SHA256:...` fingerprint")
	fs.StringVar(&o.relayURL, "relay", "", "reach the gateway (or the first jump host) through a tunnelkit relay's dial bridge at `URL` (ws://, wss://)")
	fs.StringVar(&o.tokenFile, "token-file", "", "read the relay token from `FILE` (default: $TUNNELKIT_TOKEN)")
	fs.DurationVar(&o.timeout, "connect-timeout", 30*time.Second, "give up connecting and authenticating after this long")
	fs.BoolVar(&o.noReconnect, "no-reconnect", false, "exit when the connection to the gateway is lost, as ssh does (default: reconnect with backoff and restore every forward)")
	fs.BoolVar(&o.verbose, "v", false, "log debug detail, such as each connection as it opens")
	return fs
}

// parseSSHArgs reads the flags, which may also follow the host, as ssh allows.
func parseSSHArgs(args []string) (*sshOptions, error) {
	o := &sshOptions{}
	fs := sshFlags(o)
	args = splitBundled(fs, args)
	if err := parseFlags(fs, sshUsage, args); err != nil {
		return nil, err
	}
	for fs.NArg() > 0 {
		rest := fs.Args()
		if o.target != "" {
			return nil, badUsage("ssh", "unexpected %q after the host %s: tunnelkit ssh runs no remote command, only forwards", rest[0], o.target)
		}
		o.target = rest[0]
		if err := parseFlags(fs, sshUsage, splitBundled(fs, rest[1:])); err != nil {
			return nil, err
		}
	}
	if o.target == "" {
		return nil, badUsage("ssh", "want [USER@]HOST")
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	o.user, o.host = splitTarget(o.target)
	if o.user == "" {
		o.user = o.login // user@ wins over -l, as in ssh
	}
	return o, nil
}

func (o *sshOptions) logger() *slog.Logger {
	level := slog.LevelInfo
	switch {
	case o.verbose:
		level = slog.LevelDebug
	case o.quiet:
		level = slog.LevelWarn
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
	reconnect bool
	log       *slog.Logger
}

// plan reads the ssh config, checks the options and turns them into a
// connection and its forwards.
func (o *sshOptions) plan(logger *slog.Logger) (*sshPlan, error) {
	sc, err := loadSSHConfig(o.configFile, o.options)
	if err != nil {
		return nil, err
	}
	if err := o.applyConfig(sc, logger); err != nil {
		return nil, err
	}
	if len(o.specs) == 0 {
		return nil, badUsage("ssh", "nothing to do: give at least one -L or -R forward, or -D")
	}
	if err := o.checkTarget(); err != nil {
		return nil, err
	}
	p := &sshPlan{
		addr:  net.JoinHostPort(o.host, strconv.Itoa(o.port)),
		specs: o.specs, relayURL: o.relayURL, tokenFile: o.tokenFile, timeout: o.timeout, reconnect: !o.noReconnect, log: logger,
		cfg: tunnel.Config{User: o.user, Logger: logger, KeepaliveInterval: o.keepalive, KeepaliveMax: o.keepaliveMax},
	}
	if p.cfg.HostKey, err = o.hostKeyPolicy(); err != nil {
		return nil, err
	}
	src := keySource{files: o.keys, explicit: len(o.keys) > 0, noAgent: o.identitiesOnly}
	if !src.explicit {
		src.files = o.configKeys
	}
	if p.auth, err = loadAuth(src, logger); err != nil {
		return nil, err
	}
	p.cfg.Signers, p.cfg.AuthMethods, p.cfg.Password = p.auth.signers, p.auth.methods("Password: "), p.auth.password
	if p.cfg.Jump, err = o.jumpHosts(sc, p.auth, p.cfg.HostKey); err != nil {
		p.auth.close()
		return nil, err
	}
	return p, nil
}

// checkTarget checks the host and port, and defaults the user to the local one.
func (o *sshOptions) checkTarget() error {
	if o.host == "" {
		return badUsage("ssh", "no host in %q: want [USER@]HOST", o.target)
	}
	if strings.Contains(o.host, ":") && net.ParseIP(o.host) == nil {
		return badUsage("ssh", "bad host %q: give the port with -p, not HOST:PORT", o.host)
	}
	if o.port < 1 || o.port > 65535 {
		return badUsage("ssh", "bad port %d for -p", o.port)
	}
	if o.user == "" {
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("no user name (%v): give USER@HOST or -l USER", err)
		}
		o.user = u.Username
	}
	return nil
}

// jumpHosts turns -J (or ProxyJump) into hops, each named host completed
// by its own ssh config block (HostName, Port, User) and checked against
// the same known hosts as the gateway; a pinned --host-key is the
// gateway's alone.
func (o *sshOptions) jumpHosts(sc *sshConfig, auth *sshAuth, gateway tunnel.HostKeyPolicy) ([]tunnel.JumpHost, error) {
	specs, err := parseJumps(o.jump)
	if err != nil {
		return nil, badUsage("ssh", "-J: %v", err)
	}
	policy := gateway
	policy.Fingerprint = ""
	var hops []tunnel.JumpHost
	for _, j := range specs {
		alias, host, port, user := j.host, j.host, j.port, j.user
		if h := sc.get(alias, "HostName"); h != "" {
			host = expandTokens(h, alias, "", "")
		}
		if port == 0 {
			port, _ = strconv.Atoi(sc.get(alias, "Port"))
		}
		if port == 0 {
			port = 22
		}
		if user == "" {
			user = sc.get(alias, "User")
		}
		if user == "" {
			user = o.user
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		hops = append(hops, tunnel.JumpHost{
			Addr: addr, User: user, Signers: auth.signers, Password: auth.password,
			AuthMethods: auth.methods("Password for jump host " + user + "@" + addr + ": "),
			HostKey:     policy,
		})
	}
	return hops, nil
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
	if p.reconnect {
		return p.runReconnecting(ctx)
	}
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
	first, role := addr, "gateway"
	if len(cfg.Jump) > 0 { // the relay reaches the first hop only
		first, role = cfg.Jump[0].Addr, "jump host"
	}
	// Resumable: a blip of the link to the relay keeps the SSH session.
	conn, err := client.Dial(ctx, relayURL, first, &client.Options{Token: token, Resume: true})
	if err != nil {
		return nil, fmt.Errorf("reach %s %s through relay %s: %w", role, first, relayURL, err)
	}
	return tunnel.Connect(ctx, conn, addr, cfg)
}

// splitBundled splits bundled one-letter flags as ssh takes them: "-NT"
// is -N -T, "-NL 8080:db:80" is -N -L 8080:db:80. Only arguments made of
// known flag letters are split, every letter but the last a boolean.
func splitBundled(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		letters, ok := bundled(fs, a)
		if !ok {
			out = append(out, a)
			continue
		}
		for _, l := range letters {
			out = append(out, "-"+string(l))
		}
	}
	return out
}

func bundled(fs *flag.FlagSet, a string) (string, bool) {
	if len(a) < 3 || a[0] != '-' || a[1] == '-' {
		return "", false
	}
	letters := a[1:]
	for i, l := range letters {
		f := fs.Lookup(string(l))
		if f == nil {
			return "", false
		}
		if b, isBool := f.Value.(interface{ IsBoolFlag() bool }); (!isBool || !b.IsBoolFlag()) && i < len(letters)-1 {
			return "", false
		}
	}
	return letters, true
}

// splitTarget splits "[user@]host" (host may be a bracketed IPv6 address).
func splitTarget(target string) (userName, host string) {
	host = target
	if i := strings.LastIndex(target, "@"); i >= 0 {
		userName, host = target[:i], target[i+1:]
	}
	return userName, strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
