package main

import (
	"context"
	"errors"
	"fmt"

	"tunnelkit/tunnel"
)

// runReconnecting runs the forwards through tunnel.Reconnect: a lost
// connection is made again and its forwards restored, until an interrupt.
// The first connection failing is still an error exit.
func (p *sshPlan) runReconnecting(ctx context.Context) error {
	connected := false
	err := tunnel.Reconnect(ctx, tunnel.ReconnectConfig{
		Connect: func(ctx context.Context, cfg tunnel.Config) (*tunnel.Client, error) {
			// Each attempt is bounded: a gateway that takes TCP and never
			// answers SSH must not hold the loop.
			cctx, cancel := context.WithTimeout(ctx, p.timeout)
			defer cancel()
			return connectGateway(cctx, p.addr, p.relayURL, p.tokenFile, cfg)
		},
		Config: p.cfg,
		Specs:  p.specs,
		OnState: func(s tunnel.ReconnectState) {
			if s.Phase == tunnel.PhaseConnected {
				connected = true
			}
		},
	})
	if err == nil {
		if ctx.Err() != nil && !connected {
			return errors.New("interrupted while connecting")
		}
		return nil
	}
	var fe *tunnel.ForwardError
	if !connected && errors.As(err, &fe) {
		return fmt.Errorf("forward %s failed, stopping (like ssh's ExitOnForwardFailure): %w", fe.Spec, fe.Err)
	}
	if connected {
		return fmt.Errorf("stopped reconnecting to gateway %s: %w", p.addr, terminalError(err))
	}
	return terminalError(err)
}
