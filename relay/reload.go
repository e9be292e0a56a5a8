package relay

import (
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// live is the part of the configuration Reload may change while streams
// run: what may be reached, who may connect, and the limits. Every new
// stream reads it once, at its start; streams already running keep what
// they were admitted with.
type live struct {
	allow, allowLn      policy
	tokens              []*token
	acceptOpts          *websocket.AcceptOptions
	maxStreams          int
	maxStreamsPerClient int
	idle, dialTimeout   time.Duration
}

func (r *Relay) live() *live { return r.cur.Load() }

// Reload replaces the relay's rules (Allow, AllowListen), Tokens,
// AllowOrigins and limits (MaxStreams, MaxStreamsPerClient, IdleTimeout,
// DialTimeout; zero means the default, as in New) with cfg's, without
// touching established streams: they keep running under the rules that
// admitted them. Every other field of cfg is ignored (a restart changes
// those). When cfg does not check out, Reload returns why and the running
// configuration stays.
func (r *Relay) Reload(cfg Config) error {
	applyLiveDefaults(&cfg)
	lv, err := compileLive(cfg)
	if err != nil {
		return err
	}
	r.mu.Lock() // the limits are read under r.mu
	r.cur.Store(lv)
	r.mu.Unlock()
	return nil
}

func applyLiveDefaults(cfg *Config) {
	setDefault(&cfg.MaxStreams, DefaultMaxStreams)
	setDefault(&cfg.MaxStreamsPerClient, DefaultMaxStreamsPerClient)
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&cfg.DialTimeout, DefaultDialTimeout)
}

// compileLive checks and compiles the reloadable part of cfg.
func compileLive(cfg Config) (*live, error) {
	if cfg.MaxStreams < 0 || cfg.MaxStreamsPerClient < 0 || cfg.IdleTimeout < 0 || cfg.DialTimeout < 0 {
		return nil, errors.New("relay limits and timeouts must not be negative")
	}
	lv := &live{
		maxStreams:          cfg.MaxStreams,
		maxStreamsPerClient: cfg.MaxStreamsPerClient,
		idle:                cfg.IdleTimeout,
		dialTimeout:         cfg.DialTimeout,
	}
	var err error
	if lv.allow, err = parsePolicy(cfg.Allow); err != nil {
		return nil, fmt.Errorf("allow: %w", err)
	}
	if lv.allowLn, err = parsePolicy(cfg.AllowListen); err != nil {
		return nil, fmt.Errorf("allow-listen: %w", err)
	}
	if lv.tokens, err = compileTokens(cfg.Tokens, lv.allow, lv.allowLn); err != nil {
		return nil, err
	}
	if lv.acceptOpts, err = acceptOptions(cfg.AllowOrigins); err != nil {
		return nil, err
	}
	return lv, nil
}
