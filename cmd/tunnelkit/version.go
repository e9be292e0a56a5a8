package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
)

func init() { commands["version"] = runVersion }

// version is set at link time (-ldflags "-X main.version=v1.2.3"); else
// the module version and VCS revision from the build info are shown.
var version = ""

func runVersion(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, "usage: tunnelkit version\n\nPrints the version, the commit it was built from and the Go version.\n", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return badUsage("version", "unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintln(os.Stdout, versionString())
	return nil
}

func versionString() string {
	v, rev, dirty := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "tunnelkit " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		out += " " + rev
	}
	return out + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
