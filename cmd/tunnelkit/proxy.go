package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"tunnelkit/relay/client"
)

func init() { commands["proxy"] = runProxy }

const proxyUsage = `usage: tunnelkit proxy --relay URL [--token-file FILE] HOST:PORT | HOST PORT

Connects stdin and stdout to HOST:PORT through a tunnelkit relay's dial
bridge, for OpenSSH's ProxyCommand:

  ssh -o ProxyCommand='tunnelkit proxy --relay wss://relay.example.com %%h %%p' user@host

The token comes from --token-file, else from $TUNNELKIT_TOKEN.

flags:
`

func runProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	relayURL := fs.String("relay", "", "relay `URL`: ws://HOST:PORT or wss://HOST/PREFIX (http, https work too)")
	tokenFile := fs.String("token-file", "", "read the relay token from `FILE` (default: $TUNNELKIT_TOKEN)")
	timeout := fs.Duration("connect-timeout", 30*time.Second, "give up connecting after this long")
	if err := parseFlags(fs, strings.ReplaceAll(proxyUsage, "%%", "%"), args); err != nil {
		return err
	}
	target, err := proxyTarget(fs.Args())
	if err != nil {
		return &usageError{"proxy", err}
	}
	if *relayURL == "" {
		return badUsage("proxy", "--relay is required, e.g. --relay wss://relay.example.com")
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, *timeout)
	// Resumable: a blip of the link to the relay does not end the SSH session.
	conn, err := client.Dial(dctx, *relayURL, target, &client.Options{Token: token, Resume: true})
	cancel()
	if err != nil {
		return err
	}
	return pipe(ctx, conn.(halfCloser), os.Stdin, os.Stdout)
}

// proxyTarget reads HOST:PORT or HOST PORT. An IPv6 host may come without
// brackets, as ssh's "%h:%p" writes it: the port follows the last colon.
func proxyTarget(args []string) (string, error) {
	switch {
	case len(args) == 2:
		return net.JoinHostPort(args[0], args[1]), nil
	case len(args) == 1 && !strings.HasPrefix(args[0], "[") && strings.Count(args[0], ":") > 1:
		i := strings.LastIndexByte(args[0], ':')
		return net.JoinHostPort(args[0][:i], args[0][i+1:]), nil
	case len(args) == 1:
		return args[0], nil
	}
	return "", errors.New("want the target as HOST:PORT or HOST PORT")
}

// readToken reads the token file, or else $TUNNELKIT_TOKEN.
func readToken(file string) (string, error) {
	if file == "" {
		return os.Getenv("TUNNELKIT_TOKEN"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--token-file %s is empty", file)
	}
	return tok, nil
}

// halfCloser is a relay stream: a *client.Conn, or a resumable one.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// pipe copies in to conn and conn to out. EOF on in half-closes conn; it
// returns once both directions are done, or at the first failure (when in
// may still be blocked reading: the process is about to exit).
func pipe(ctx context.Context, conn halfCloser, in io.Reader, out io.Writer) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	up, down := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := io.CopyBuffer(conn, struct{ io.Reader }{in}, make([]byte, 256<<10))
		if err == nil {
			err = conn.CloseWrite()
		}
		up <- err
	}()
	go func() {
		_, err := io.CopyBuffer(struct{ io.Writer }{out}, conn, make([]byte, 256<<10))
		down <- err
	}()
	for n := 0; n < 2; n++ {
		select {
		case err := <-up:
			if err != nil {
				return fmt.Errorf("stdin to %s: %w", conn.RemoteAddr(), err)
			}
		case err := <-down:
			if err != nil {
				return fmt.Errorf("%s to stdout: %w", conn.RemoteAddr(), err)
			}
		}
	}
	return ctx.Err()
}
