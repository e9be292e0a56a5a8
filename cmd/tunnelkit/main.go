// Command tunnelkit is SSH port forwarding (-L and -R) from a terminal or a
// web page: one binary serving the relay and the embedded web UI, a native
// client, and a demo that runs everything on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `tunnelkit: SSH port forwarding from a terminal or a web page

usage:
  tunnelkit demo  [--listen ADDR]               relay + web UI, a demo gateway and lab inside
  tunnelkit serve [--listen ADDR] [--allow ...] relay + web UI
  tunnelkit ssh   [-L SPEC]... [-R SPEC]... [-D SPEC]... [-J JUMP] [USER@]HOST|ALIAS
  tunnelkit proxy --relay URL HOST:PORT         stdin/stdout over the relay (ProxyCommand)
  tunnelkit token new [--name NAME] [RULE]...   a relay token and its --token-file line
  tunnelkit version                             print the version (also --version)

Run "tunnelkit COMMAND -h" for a command's flags.
`

// commands maps each subcommand to its entry point; each lives in its own file.
var commands = map[string]func(ctx context.Context, args []string) error{}

func main() {
	if len(os.Args) >= 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		os.Args[1] = "version"
	}
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "tunnelkit: unknown command %q\nrun 'tunnelkit -h' for the commands\n", os.Args[1])
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "tunnelkit %s: %v%s\n", os.Args[1], err, relayHint(err))
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, ue.hint())
			os.Exit(2)
		}
		os.Exit(1)
	}
}
