package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// The config file of `tunnelkit serve --config FILE` is TOML whose keys are
// exactly serve's long flag names: listen = "0.0.0.0:443", allow = ["..."]
// (a list for a repeatable flag, or one string), max-streams = 2048,
// idle-timeout = "15m". A flag given on the command line wins over its key
// (a repeatable one replaces the file's whole list). Paths in the file are
// relative to the file's directory.

// notInFile are flags with no key: the file cannot name itself.
var notInFile = []string{"config"}

// pathKeys name files: relative to the config file, not the working
// directory, so the file means the same wherever serve starts.
var pathKeys = []string{"rules", "token-file", "tls-cert", "tls-key", "acme-cache", "acme-ca-root"}

// applyConfigFile sets every flag of fs the command line did not set from
// file. Errors name the file, and the line or key that is wrong.
func applyConfigFile(fs *flag.FlagSet, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(b, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return fmt.Errorf("--config %s: line %d, column %d: %s", file, row, col, de.Error())
		}
		return fmt.Errorf("--config %s: %v", file, err)
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || slices.Contains(notInFile, k) {
			return fmt.Errorf("--config %s: unknown key %q (keys are serve's long flag names: listen, allow, allow-listen, rules, token-file, ...; see tunnelkit serve -h)", file, k)
		}
		if onCommandLine[k] {
			continue
		}
		values, err := tomlValues(doc[k])
		if err != nil {
			return fmt.Errorf("--config %s: %s: %v", file, k, err)
		}
		if _, ok := f.Value.(*repeated); !ok && len(values) != 1 {
			return fmt.Errorf("--config %s: %s takes one value, not a list of %d", file, k, len(values))
		}
		for _, v := range values {
			if slices.Contains(pathKeys, k) && v != "" && !filepath.IsAbs(v) {
				v = filepath.Join(filepath.Dir(file), v)
			}
			if err := fs.Set(k, v); err != nil {
				return fmt.Errorf("--config %s: %s = %q: %v", file, k, v, err)
			}
		}
	}
	return nil
}

// tomlValues turns a TOML value into flag values: a scalar is one, an
// array of scalars one each.
func tomlValues(v any) ([]string, error) {
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, err := tomlScalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := tomlScalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func tomlScalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case time.Duration:
		return v.String(), nil
	case map[string]any:
		return "", errors.New("a table; want a string, a number or a list of them")
	}
	return "", fmt.Errorf("a %T; want a string, a number or a list of them", v)
}

// listOrNone words a list for the policy summary.
func listOrNone(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}
