package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"tunnelkit/relay"
)

// serveThenDrain runs serve (srv.Serve or ServeTLS on its listener) until it
// fails or ctx ends. On ctx's end it stops accepting, lets the relay's
// streams finish for up to drain, then closes what is left; serve and demo
// both stop this way.
func serveThenDrain(ctx context.Context, name string, srv *http.Server, rl *relay.Relay, drain time.Duration, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc: // serving failed
		rl.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(os.Stderr, "tunnelkit %s: shutting down, draining streams for up to %v\n", name, drain)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	go srv.Shutdown(dctx) // stops accepting; WebSocket streams are the relay's
	if err := rl.Shutdown(dctx); err != nil {
		fmt.Fprintf(os.Stderr, "tunnelkit %s: drain timeout: closed the remaining streams\n", name)
	}
	srv.Close()
	<-errc
	return nil
}
