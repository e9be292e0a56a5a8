package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"tunnelkit/relay"
)

// reloadOnHangup re-reads the command line's files on every SIGHUP, and
// when one of them changes (polled: no dependency, and it works on every
// file system), and hands the relay the new rules, tokens, origins and
// limits. It returns a
// function that stops it and waits for it.
func (o *serveOptions) reloadOnHangup(ctx context.Context, rl *relay.Relay, running relay.Config) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	tick := time.NewTicker(watchInterval)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer tick.Stop()
		cur := o // whose files are watched: the last good reload's
		seen := cur.fileStamps()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			case <-tick.C:
				now := cur.fileStamps()
				if now == seen {
					continue
				}
				seen = now
				running.Logger.Info("reload: a config file changed", "files", cur.watchedFiles())
			}
			if cfg, n, ok := o.reload(rl, running); ok {
				running, cur = cfg, n
				seen = cur.fileStamps()
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		wg.Wait()
	}
}

// reload applies the files as they are now. What fails to parse or check
// is logged, with the file and what is wrong, and nothing changes.
func (o *serveOptions) reload(rl *relay.Relay, running relay.Config) (relay.Config, *serveOptions, bool) {
	log := running.Logger
	fail := func(err error) (relay.Config, *serveOptions, bool) {
		log.Error("reload failed: kept the running configuration", "err", err.Error())
		return running, nil, false
	}
	n, err := parseServeArgs(o.args)
	if err != nil {
		return fail(err)
	}
	cfg, err := n.relayConfig(log)
	if err != nil {
		return fail(err)
	}
	if err := rl.Reload(cfg); err != nil {
		return fail(err)
	}
	if changed := o.restartOnly(n); len(changed) > 0 {
		log.Warn("reload: these settings take effect on restart only", "changed", changed)
	}
	log.Info("reloaded", "policy", describePolicy(cfg))
	return cfg, n, true
}

// restartOnly names the settings that differ in n but need a restart: the
// listener, TLS, trusted proxies, the public host and message size.
func (o *serveOptions) restartOnly(n *serveOptions) []string {
	var out []string
	check := func(name string, differs bool) {
		if differs {
			out = append(out, name)
		}
	}
	check("listen", o.listen != n.listen)
	check("tls-cert", o.tlsCert != n.tlsCert || o.tlsKey != n.tlsKey)
	check("acme-domain", !slices.Equal(o.acme.domains, n.acme.domains) || o.acme.ca != n.acme.ca)
	check("trusted-proxy", !slices.Equal(o.proxies, n.proxies))
	check("public-host", !slices.Equal(o.publicHosts, n.publicHosts))
	check("max-message-size", o.maxMsg != n.maxMsg)
	check("log-format", o.logFormat != n.logFormat)
	check("metrics-listen", o.metricsListen != n.metricsListen)
	check("page-gateway", o.page != n.page)
	check("path-prefix", o.pathPrefix != n.pathPrefix)
	return out
}

// describePolicy is the effective policy in a few lines, for start-up and
// the log of a reload.
func describePolicy(cfg relay.Config) []string {
	tokens := "none: any client may use the relay"
	if len(cfg.Tokens) > 0 {
		names := make([]string, 0, len(cfg.Tokens))
		for _, t := range cfg.Tokens {
			if t.Name != "" {
				names = append(names, t.Name)
			}
		}
		tokens = fmt.Sprintf("%d required", len(cfg.Tokens))
		if len(names) > 0 {
			tokens += " (" + listOrNone(names, "") + ")"
		}
	}
	lim := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	idle, dial := cfg.IdleTimeout, cfg.DialTimeout
	if idle == 0 {
		idle = relay.DefaultIdleTimeout
	}
	if dial == 0 {
		dial = relay.DefaultDialTimeout
	}
	return []string{
		"dial allowed: " + listOrNone(cfg.Allow, "nothing"),
		"listen allowed: " + listOrNone(cfg.AllowListen, "nowhere"),
		"tokens: " + tokens,
		"browser origins: the relay's own" + listOrNone(prefixAll(", ", cfg.AllowOrigins), " only"),
		fmt.Sprintf("limits: %d streams, %d per client, idle %v, dial %v", lim(cfg.MaxStreams, relay.DefaultMaxStreams), lim(cfg.MaxStreamsPerClient, relay.DefaultMaxStreamsPerClient), idle, dial),
	}
}

func prefixAll(p string, l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return []string{p + listOrNone(l, "")}
}

// watchInterval is how often the config, rules and token files are
// checked for a change.
const watchInterval = 2 * time.Second

func (o *serveOptions) watchedFiles() []string {
	var out []string
	for _, f := range []string{o.configFile, o.rules, o.tokenFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// fileStamps sums up the watched files' sizes and modification times: a
// different sum is a change (a file that went away counts as one too).
func (o *serveOptions) fileStamps() string {
	var b strings.Builder
	for _, f := range o.watchedFiles() {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d;", f, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s missing;", f)
		}
	}
	return b.String()
}
