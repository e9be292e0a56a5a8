// Command profiled runs tunnelkit's relay or native client in-process with
// CPU and allocation profiling, for `BENCH_PROFILE=1 go run ./bench`. It wires
// the packages the way `tunnelkit serve` and `tunnelkit ssh` do, and writes
// the profiles when it gets SIGTERM.
//
//	profiled relay -listen ADDR -allow HOST:PORT,... -cpu FILE -allocs FILE
//	profiled ssh -gateway HOST:PORT -user U -key FILE -known-hosts FILE [-relay URL] -L SPEC... -cpu FILE -allocs FILE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"tunnelkit/relay"
	"tunnelkit/relay/client"
	"tunnelkit/tunnel"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: profiled relay|ssh [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	cpu := fs.String("cpu", "", "write the CPU profile to `FILE`")
	allocs := fs.String("allocs", "", "write the allocation profile to `FILE`")
	listen := fs.String("listen", "127.0.0.1:0", "relay: serve on `ADDR`")
	var allow, fwd listFlag
	fs.Var(&allow, "allow", "relay: allow dialing `RULE` (repeatable)")
	gateway := fs.String("gateway", "", "ssh: the gateway `HOST:PORT`")
	user := fs.String("user", "root", "ssh: user")
	key := fs.String("key", "", "ssh: private key `FILE`")
	knownHosts := fs.String("known-hosts", "", "ssh: known_hosts `FILE`")
	relayURL := fs.String("relay", "", "ssh: reach the gateway through this relay")
	fs.Var(&fwd, "L", "ssh: local forward `SPEC` (repeatable)")
	fs.Parse(os.Args[2:])

	// Sample allocations finely: the data paths allocate little, and the
	// default rate (one sample per 512 KiB) shows only start-up.
	runtime.MemProfileRate = 4 << 10
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
	}
	var err error
	switch os.Args[1] {
	case "relay":
		err = runRelay(ctx, *listen, allow)
	case "ssh":
		err = runSSH(ctx, *gateway, *user, *key, *knownHosts, *relayURL, fwd)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if *cpu != "" {
		pprof.StopCPUProfile()
	}
	if *allocs != "" {
		f, ferr := os.Create(*allocs)
		if ferr != nil {
			fatal(ferr)
		}
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "profiled:", err)
	os.Exit(1)
}

func runRelay(ctx context.Context, addr string, allow []string) error {
	r, err := relay.New(relay.Config{Allow: allow, MaxStreams: 100000, MaxStreamsPerClient: 100000})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &http.Server{Handler: r.Handler()}
	go func() {
		<-ctx.Done()
		srv.Close()
		r.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runSSH(ctx context.Context, gateway, user, keyFile, knownHosts, relayURL string, specs []string) error {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	signer, err := tunnel.ParsePrivateKey(pem, nil)
	if err != nil {
		return err
	}
	cfg := tunnel.Config{User: user, Signers: nil, HostKey: tunnel.HostKeyPolicy{KnownHostsFile: knownHosts}}
	cfg.Signers = append(cfg.Signers, signer)
	var c *tunnel.Client
	if relayURL == "" {
		c, err = tunnel.Dial(ctx, gateway, cfg)
	} else {
		conn, derr := client.Dial(ctx, relayURL, gateway, nil)
		if derr != nil {
			return derr
		}
		c, err = tunnel.Connect(ctx, conn, gateway, cfg)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	for _, s := range specs {
		sp, err := tunnel.ParseSpec(tunnel.Local, s)
		if err != nil {
			return err
		}
		f, err := c.Forward(ctx, sp)
		if err != nil {
			return err
		}
		fmt.Printf("forward %s\n", f.Entry())
	}
	fmt.Println("ready")
	select {
	case <-ctx.Done():
	case <-c.Done():
	}
	return nil
}
