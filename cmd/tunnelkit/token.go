package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"tunnelkit/relay"
)

func init() { commands["token"] = runToken }

const tokenUsage = `usage: tunnelkit token new [--name NAME] [RULE|listen=RULE]...

Makes a relay token: prints the token once, for whoever will use it, and
the line to add to the --token-file, which holds only the token's SHA-256
(sha256:HEX), its name and the rules it may use beyond the relay's own.

flags:
`

// tokenOut receives what token new prints (a variable for tests).
var tokenOut io.Writer = os.Stdout

func runToken(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] != "new" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(os.Stderr, tokenUsage)
			return flag.ErrHelp
		}
		return badUsage("token", "want 'tunnelkit token new [--name NAME] [RULE]...'")
	}
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	name := fs.String("name", "", "the token's `NAME` in the audit log")
	if err := parseFlags(fs, tokenUsage, args[1:]); err != nil {
		return err
	}
	line, secret, err := newTokenLine(*name, fs.Args())
	if err != nil {
		return err
	}
	fmt.Fprintf(tokenOut, "token (shown only now; the relay keeps its SHA-256):\n%s\nline for the --token-file:\n%s\n", secret, line)
	return nil
}

// newTokenLine makes a token of 256 random bits and its token-file line,
// checked by the relay's own parser.
func newTokenLine(name string, rules []string) (line, secret string, err error) {
	if strings.ContainsAny(name, " \t#") {
		return "", "", badUsage("token", "--name %q: no spaces or #", name)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	secret = hex.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	fields := []string{"sha256:" + hex.EncodeToString(sum[:])}
	if name != "" {
		fields = append(fields, "name="+name)
	}
	fields = append(fields, rules...)
	line = strings.Join(fields, " ")
	if _, err := relay.ParseTokenFile(strings.NewReader(line)); err != nil {
		return "", "", badUsage("token", "%v", strings.TrimPrefix(err.Error(), "line 1: "))
	}
	return line, secret, nil
}

// shortTokenWarnings names the tokens too short to resist guessing.
func shortTokenWarnings(tokens []relay.Token) []string {
	var out []string
	for i, t := range tokens {
		if t.Secret == "" || len(t.Secret) >= relay.ShortToken {
			continue
		}
		who := t.Name
		if who == "" {
			who = fmt.Sprintf("on line %d", i+1)
		}
		out = append(out, fmt.Sprintf("warning: token %s has %d characters, under %d: it could be guessed; make one with 'tunnelkit token new'", who, len(t.Secret), relay.ShortToken))
	}
	return out
}
