package tunnel_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"golang.org/x/crypto/ssh"

	"tunnelkit/tunnel"
)

// The equivalent of "ssh -N -L 8080:db:5432 alice@gateway.example".
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	key, err := os.ReadFile(os.ExpandEnv("$HOME/.ssh/id_ed25519"))
	if err != nil {
		log.Fatal(err)
	}
	signer, err := tunnel.ParsePrivateKey(key, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := tunnel.Dial(ctx, "gateway.example:22", tunnel.Config{
		User:    "alice",
		Signers: []ssh.Signer{signer},
		HostKey: tunnel.HostKeyPolicy{KnownHostsFile: os.ExpandEnv("$HOME/.ssh/known_hosts")},
		OnEvent: func(e tunnel.Event) { fmt.Println(e.Kind, e.Forward, e.Entry, e.Err) },
	})
	if err != nil {
		log.Fatal(err) // says what failed: host key, authentication, network
	}
	defer c.Close()

	spec, err := tunnel.ParseForward("-L 8080:db:5432")
	if err != nil {
		log.Fatal(err)
	}
	f, err := c.Forward(ctx, spec)
	if err != nil {
		log.Fatal(err) // the entry socket could not be bound
	}
	fmt.Println("listening on", f.Entry(), "like:", spec.Command("alice", "gateway.example", 22))

	select {
	case <-ctx.Done():
	case <-c.Done():
		log.Print(c.Wait()) // e.g. the gateway stopped answering keepalives
	}
}

// Keeping forwards up across lost connections.
func ExampleReconnect() {
	ctx := context.Background()
	cfg := tunnel.Config{User: "alice", Password: os.Getenv("GATEWAY_PASSWORD"),
		HostKey: tunnel.HostKeyPolicy{Fingerprint: "SHA256:..."}}
	specs := []tunnel.Spec{{Kind: tunnel.Remote, EntryPort: 8080, ExitHost: "localhost", ExitPort: 3000}}
	err := tunnel.Reconnect(ctx, tunnel.ReconnectConfig{
		Connect: func(ctx context.Context, cfg tunnel.Config) (*tunnel.Client, error) {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return tunnel.Dial(ctx, "gateway.example", cfg)
		},
		Config: cfg,
		Specs:  specs,
		OnState: func(s tunnel.ReconnectState) {
			if s.Phase == tunnel.PhaseConnected {
				log.Printf("connected to %s, gateway listens on %s", s.Client.Addr(), s.Forwards[0].Entry())
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
}
