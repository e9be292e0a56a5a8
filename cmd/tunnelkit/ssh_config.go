package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"

	"tunnelkit/tunnel"
)

// sshConfig is OpenSSH's client configuration (ssh_config(5)): -F FILE,
// else ~/.ssh/config when there is one. Host and Match host blocks and
// Include are the parser's; the keywords tunnelkit applies are below, and
// those that would change security if ignored are reported.
type sshConfig struct {
	file    string
	options *ssh_config.Config // -o lines: they come first, as in ssh
	cfg     *ssh_config.Config // the file; nil without one
}

// loadSSHConfig reads the -o options and file (-F), or ~/.ssh/config if
// file is "" (none when it does not exist; -F none reads nothing, as in ssh).
func loadSSHConfig(file string, options []string) (*sshConfig, error) {
	c := &sshConfig{file: "-o"}
	if len(options) > 0 {
		var text strings.Builder
		for _, o := range options {
			k, v, ok := strings.Cut(o, "=")
			if !ok {
				k, v, ok = strings.Cut(strings.TrimSpace(o), " ")
			}
			if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(o, "\n\r") {
				return nil, badUsage("ssh", "-o %q: want Keyword=Value", o)
			}
			fmt.Fprintf(&text, "%s %s\n", strings.TrimSpace(k), strings.TrimSpace(v))
		}
		var err error
		if c.options, err = ssh_config.Decode(strings.NewReader(text.String())); err != nil {
			return nil, badUsage("ssh", "-o: %v", err)
		}
	}
	cfg, path, err := readConfigFile(file)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		c.cfg, c.file = cfg, path
	}
	return c, nil
}

func readConfigFile(file string) (*ssh_config.Config, string, error) {
	explicit := file != ""
	if file == "none" {
		return nil, "", nil
	}
	if !explicit {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, "", nil
		}
		file = filepath.Join(home, ".ssh", "config")
	}
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("-F: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, "", fmt.Errorf("ssh config %s: %w", file, err)
	}
	return cfg, file, nil
}

func (c *sshConfig) get(alias, key string) string {
	if c == nil {
		return ""
	}
	for _, cfg := range []*ssh_config.Config{c.options, c.cfg} {
		if cfg == nil {
			continue
		}
		if v, _ := cfg.Get(alias, key); strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (c *sshConfig) getAll(alias, key string) []string {
	if c == nil {
		return nil
	}
	var all []string
	for _, cfg := range []*ssh_config.Config{c.options, c.cfg} {
		if cfg != nil {
			vs, _ := cfg.GetAll(alias, key)
			all = append(all, vs...)
		}
	}
	return all
}

// applyConfig fills what the command line left open from the ssh config
// block(s) for the alias: flags on the command line win, as in ssh;
// forwards add up.
func (o *sshOptions) applyConfig(c *sshConfig, log *slog.Logger) error {
	alias := o.host
	if err := c.check(alias, log); err != nil {
		return err
	}
	if h := c.get(alias, "HostName"); h != "" {
		o.host = expandTokens(h, alias, "", "")
	}
	if u := c.get(alias, "User"); u != "" && o.user == "" {
		o.user = u
	}
	if p := c.get(alias, "Port"); p != "" && !o.set["p"] {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c.errorf(alias, "Port %q is not 1-65535", p)
		}
		o.port = n
	}
	if !o.set["i"] {
		for _, f := range c.getAll(alias, "IdentityFile") {
			o.configKeys = append(o.configKeys, expandTokens(f, alias, o.host, o.user))
		}
	}
	o.identitiesOnly = strings.EqualFold(c.get(alias, "IdentitiesOnly"), "yes")
	if kh := strings.Fields(c.get(alias, "UserKnownHostsFile")); len(kh) > 0 && !o.set["known-hosts"] {
		o.knownHosts = expandTokens(kh[0], alias, o.host, o.user)
	}
	if strings.EqualFold(c.get(alias, "StrictHostKeyChecking"), "accept-new") && !o.set["accept-new-host-key"] {
		o.acceptNew = true
	}
	if j := c.get(alias, "ProxyJump"); j != "" && !o.set["J"] {
		o.jump = j
	}
	if err := o.applyKeepalive(c, alias); err != nil {
		return err
	}
	return o.applyForwards(c, alias)
}

func (o *sshOptions) applyKeepalive(c *sshConfig, alias string) error {
	if v := c.get(alias, "ServerAliveInterval"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c.errorf(alias, "ServerAliveInterval %q is not a number of seconds", v)
		}
		o.keepalive = time.Duration(n) * time.Second
		if n == 0 {
			o.keepalive = -1 // ssh: 0 turns keepalives off
		}
	}
	if v := c.get(alias, "ServerAliveCountMax"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c.errorf(alias, "ServerAliveCountMax %q is not a positive number", v)
		}
		o.keepaliveMax = n
	}
	return nil
}

// applyForwards adds LocalForward, RemoteForward and DynamicForward after
// those of the command line; ClearAllForwardings drops them all, as in ssh.
func (o *sshOptions) applyForwards(c *sshConfig, alias string) error {
	if strings.EqualFold(c.get(alias, "ClearAllForwardings"), "yes") {
		o.specs = nil
		return nil
	}
	for _, kw := range []struct {
		key  string
		kind tunnel.Kind
	}{{"LocalForward", tunnel.Local}, {"RemoteForward", tunnel.Remote}, {"DynamicForward", tunnel.Dynamic}} {
		for _, v := range c.getAll(alias, kw.key) {
			f := strings.Fields(v)
			if kw.kind == tunnel.Remote && len(f) == 1 {
				return c.errorf(alias, "RemoteForward %q: a remote dynamic (SOCKS) forward is not supported", v)
			}
			if strings.Contains(v, "/") {
				return c.errorf(alias, "%s %q: Unix socket forwards are not supported", kw.key, v)
			}
			sp, err := tunnel.ParseSpec(kw.kind, strings.Join(f, ":"))
			if err != nil {
				return c.errorf(alias, "%s %q: %v", kw.key, v, err)
			}
			o.specs = append(o.specs, sp)
		}
	}
	return nil
}

func (c *sshConfig) errorf(alias, format string, args ...any) error {
	return fmt.Errorf("ssh config %s (Host %s): %s", c.file, alias, fmt.Sprintf(format, args...))
}

// refused are keywords tunnelkit cannot honour where ignoring them would
// send the connection somewhere else than the config says.
var refused = map[string]string{
	"ProxyCommand": "tunnelkit does not run a ProxyCommand: use ProxyJump (-J), or --relay for a tunnelkit relay",
}

// ignored are keywords that change security which tunnelkit does not
// apply; each is reported with what tunnelkit does instead. value, when
// set, limits the report to those values.
var ignored = []struct{ key, value, instead string }{
	{"StrictHostKeyChecking", "no", "unknown host keys are still refused (see --accept-new-host-key), a changed one always"},
	{"StrictHostKeyChecking", "off", "unknown host keys are still refused (see --accept-new-host-key), a changed one always"},
	{"HostKeyAlias", "", "host keys are looked up under the real host and port"},
	{"KnownHostsCommand", "", "only UserKnownHostsFile (or --known-hosts) is read"},
	{"GlobalKnownHostsFile", "", "only UserKnownHostsFile (or --known-hosts) is read"},
	{"CheckHostIP", "yes", "the host key is checked under the host name only"},
	{"VerifyHostKeyDNS", "yes", "SSHFP records are not consulted"},
	{"ForwardAgent", "yes", "the agent is not forwarded"},
	{"ForwardX11", "yes", "X11 is not forwarded"},
	{"GatewayPorts", "yes", "entry sockets without an address still bind loopback only"},
	{"CertificateFile", "", "no client certificate is offered"},
	{"PKCS11Provider", "", "no PKCS#11 keys are offered"},
	{"SecurityKeyProvider", "", "no security keys are offered"},
	{"IdentityAgent", "", "the agent at $SSH_AUTH_SOCK is used"},
	{"Ciphers", "", "tunnelkit's own cipher list is used"},
	{"KexAlgorithms", "", "tunnelkit's own key exchange list is used"},
	{"MACs", "", "tunnelkit's own MAC list is used"},
	{"HostKeyAlgorithms", "", "tunnelkit's own host key algorithm list is used"},
	{"PubkeyAcceptedAlgorithms", "", "tunnelkit's own signature algorithms are used"},
	{"ExitOnForwardFailure", "no", "a forward that cannot be set up still stops tunnelkit"},
	{"RemoteCommand", "", "tunnelkit runs no remote command, only forwards"},
	{"LocalCommand", "", "no local command is run"},
}

// check refuses the config where it says what tunnelkit cannot do safely,
// and reports what it does not apply.
func (c *sshConfig) check(alias string, log *slog.Logger) error {
	for key, why := range refused {
		if v := c.get(alias, key); v != "" && !strings.EqualFold(v, "none") {
			return c.errorf(alias, "%s %s: %s (or pass -F none to read no ssh config)", key, v, why)
		}
	}
	for _, k := range ignored {
		v := c.get(alias, k.key)
		if v == "" || (k.value != "" && !strings.EqualFold(v, k.value)) {
			continue
		}
		log.Warn("ssh config keyword not applied", "file", c.file, "host", alias, "keyword", k.key, "value", v, "instead", k.instead)
	}
	return nil
}

// expandTokens expands ~ and the ssh_config tokens tunnelkit knows: %% %d
// (home) %h (host) %n (alias) %r (remote user) %u (local user).
func expandTokens(s, alias, host, remoteUser string) string {
	home, _ := os.UserHomeDir()
	if s == "~" || strings.HasPrefix(s, "~/") {
		s = home + s[1:]
	}
	if !strings.Contains(s, "%") {
		return s
	}
	local := ""
	if u, err := user.Current(); err == nil {
		local = u.Username
	}
	if host == "" {
		host = alias
	}
	r := strings.NewReplacer("%%", "%", "%d", home, "%h", host, "%n", alias, "%r", remoteUser, "%u", local)
	return r.Replace(s)
}
