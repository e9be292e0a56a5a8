package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"tunnelkit/tunnel"
)

// repeated collects every value of a repeatable flag, in order.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

// specList collects repeated -L, -R or -D flags, in order, into one list,
// parsing each as it comes so a bad one is named at once.
type specList struct {
	kind  tunnel.Kind
	specs *[]tunnel.Spec
}

func (l specList) String() string { return "" }

func (l specList) Set(s string) error {
	sp, err := tunnel.ParseSpec(l.kind, s)
	if err != nil {
		return err
	}
	*l.specs = append(*l.specs, sp)
	return nil
}

// usageError is a command line that does not parse: main prints it with a
// one-line hint instead of the whole usage.
type usageError struct {
	command string
	err     error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// hint is what main prints after the error.
func (e *usageError) hint() string {
	return fmt.Sprintf("run 'tunnelkit %s -h' for help", e.command)
}

// badUsage wraps a complaint about the command line of command.
func badUsage(command string, format string, args ...any) error {
	return &usageError{command, fmt.Errorf(format, args...)}
}

// parseFlags parses args with fs. -h prints usage and the flags to stderr
// and returns flag.ErrHelp; any other failure is a *usageError, printed
// without the usage.
func parseFlags(fs *flag.FlagSet, usage string, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(fs, usage, os.Stderr)
		return err
	}
	if err != nil {
		return &usageError{fs.Name(), err}
	}
	return nil
}

func printUsage(fs *flag.FlagSet, usage string, w io.Writer) {
	fmt.Fprint(w, usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
