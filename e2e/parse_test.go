package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tunnelkit/tunnel"
)

// parseCorpus is the odd cases of FuzzParseSpec's seed corpus
// (tunnel/spec_test.go), any corpus files saved under
// tunnel/testdata/fuzz/FuzzParseSpec, and the forms the page's users type.
func parseCorpus(t *testing.T) []string {
	specs := []string{
		"-L 8080:db:5432", "-R0:localhost:22", "L [::1]:8080:[fd00::5]:80", ":8080:h:80",
		"*:0:h:1", "::1/8080/fd00::5/80", "[::1]:x", "[", "]", "[]:1:h:2", "-L", "1:[a]:2",
		"a:b:c:d:e", "8080:fe80::1%eth0:80", "[fe80::1%25eth0]:1:h:2", "-R //1//", "65536:h:1",
		"-L\t1:h:2", "R  1:h:2", "1:h:2\x00", "1:h\u00e9:2", "[::ffff:1.2.3.4]:1:h:2",
		// What people type in the page.
		"", "  ", "8080:db", "0:fd00::5:80", "-L 0:fd00::5:80", "::1:8080:fd00::5:80", "8080:db:0", "70000:db:80",
		"8080:[fd00::5:80", "8080:d b:80", "x:db:80", "-R 0.0.0.0:0:localhost:3000", "-L8080:db:5432",
		"[::]:0:[::1]:22", "localhost:8080:db:5432", "-X 1:h:2", "l 1:h:2", "- L 1:h:2", "-L 1:h:2 extra",
		// -D, with and without its flag (the page's selector gives kind "D").
		"-D 1080", "-D1080", "D 1080", "1080", "127.0.0.1:1080", "[::1]:1080", "::1:1080", "-D ::1:1080",
		"*:0", ":1080", "-D 70000", "-D x", "-D 1:h:2", "-D", "-D [::1]", "-D [::1]:", "-D 1080 extra",
		"-D localhost:0", "-D 127.0.0.1/1080", "-D fe80::1%eth0:1080", "-D [fe80::1%eth0]:1080",
	}
	files, _ := filepath.Glob(filepath.Join("..", "tunnel", "testdata", "fuzz", "FuzzParseSpec", "*"))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "string(") {
				if s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "string("), ")")); err == nil {
					specs = append(specs, s)
				}
			}
		}
		f.Close()
	}
	return specs
}

// TestParseForwardMatchesGo: tunnelkit.parseForward in the page accepts and
// refuses exactly what tunnel.ParseForward does (and, with a kind, what
// `tunnelkit ssh -L/-R/-D` does: tunnel.ParseSpec), with the same canonical
// spec and command; refusals throw an Error with a hint for people, and a
// -D is explained as a SOCKS forward and hinted in its own form.
func TestParseForwardMatchesGo(t *testing.T) {
	st := startStack(t)
	ctx := newBrowser(t)
	openPage(t, ctx, st.PageURL)
	type result struct {
		OK          bool
		Kind, Spec  string
		Command     string
		Explanation string
		Message     string
		Hint        string
		Suggestion  string
		IsError     bool
	}
	parse := func(s, kind string) result {
		opt := "undefined"
		if kind != "" {
			opt = `{kind: "` + kind + `", user: "alice", host: "gw", port: 2222}`
		}
		return mustJS[result](t, ctx, `
			try {
				const f = tunnelkit.parseForward(`+jsString(s)+`, `+opt+`);
				return {OK: true, Kind: f.kind, Spec: f.spec, Command: f.command, Explanation: f.explanation};
			} catch (e) {
				return {OK: false, IsError: e instanceof Error, Message: e.message, Hint: e.hint || "", Suggestion: e.suggestion || ""};
			}`)
	}
	for _, s := range parseCorpus(t) {
		for _, kind := range []tunnel.Kind{0, tunnel.Local, tunnel.Remote, tunnel.Dynamic} {
			k := ""
			if kind != 0 {
				k = string(rune(kind))
			}
			got := parse(s, k)
			var spec tunnel.Spec
			var err error
			if kind == 0 {
				spec, err = tunnel.ParseForward(s)
			} else if hasFlag(s) {
				spec, err = tunnel.ParseForward(s) // a flag typed in the text wins over the page's selector
			} else {
				spec, err = tunnel.ParseSpec(kind, s) // as `tunnelkit ssh -L s` / `-R s` / `-D s`
			}
			switch {
			case err != nil && got.OK:
				t.Errorf("kind %q %q: Go refuses it (%v) but parseForward gives %s", k, s, err, got.Spec)
			case err != nil:
				if !got.IsError || got.Message == "" || got.Hint == "" {
					t.Errorf("kind %q %q: parseForward threw %+v, want an Error with a message and a hint", k, s, got)
				}
			case !got.OK:
				t.Errorf("kind %q %q: Go accepts it as %s but parseForward throws %q", k, s, spec, got.Message)
			default:
				user, host, port := "USER", "GATEWAY", 0
				if k != "" {
					user, host, port = "alice", "gw", 2222
				}
				if got.Spec != spec.String() || got.Kind != string(rune(spec.Kind)) || got.Command != spec.Command(user, host, port) || got.Explanation == "" {
					t.Errorf("kind %q %q: parseForward gives %+v, want spec %q command %q", k, s, got, spec, spec.Command(user, host, port))
				}
				if spec.Kind == tunnel.Dynamic && (!strings.Contains(got.Explanation, "SOCKS") || !strings.Contains(got.Explanation, "entry socket") ||
					!strings.Contains(got.Explanation, "asks for") || strings.Contains(got.Explanation, "Remote forward")) {
					t.Errorf("kind %q %q: a -D is explained as %q, want what a SOCKS forward does", k, s, got.Explanation)
				}
			}
		}
	}
	// The parser's specific hint: IPv6 without brackets, with the fix.
	for s, want := range map[string]string{
		"-L 0:fd00::5:80":           "-L 0:[fd00::5]:80",
		"-R ::1:8080:fd00::5:80":    "-R [::1]:8080:[fd00::5]:80",
		"-L 127.0.0.1:0:fd00::5:80": "-L 127.0.0.1:0:[fd00::5]:80",
		"-D ::1:1080":               "-D [::1]:1080",
	} {
		got := parse(s, "")
		if got.OK || !strings.Contains(got.Hint, "brackets") || got.Suggestion != want {
			t.Errorf("%q: %+v, want a hint to put IPv6 in brackets, suggestion %q", s, got, want)
		}
		if want != "" {
			if _, err := tunnel.ParseForward(want); err != nil {
				t.Errorf("suggested %q does not parse: %v", want, err)
			}
		}
	}
	// Hints for a -D speak of its own form, and a text with no flag and no
	// kind is told about -D too.
	if got := parse("::1:1080", "D"); got.OK || got.Suggestion != "[::1]:1080" {
		t.Errorf(`"::1:1080" as -D: %+v, want the bracketed suggestion "[::1]:1080"`, got)
	}
	for _, c := range []struct{ spec, kind, want string }{
		{"70000", "D", "70000"},
		{"-D 70000", "", "out of range"},
		{"-D 1:h:2", "L", "only the entry socket"},
		{"-D x", "", `"x" is not a number`},
		{"-D", "", "SOCKS"},
	} {
		got := parse(c.spec, c.kind)
		if got.OK || !strings.Contains(got.Hint, "SOCKS forward (-D) is [entry address:]port") || !strings.Contains(got.Hint, c.want) ||
			strings.Contains(got.Hint, "exit host:exit port") {
			t.Errorf("kind %q %q: hint %q, want the -D form and %q", c.kind, c.spec, got.Hint, c.want)
		}
	}
	if got := parse("8080:db:5432", ""); got.OK || !strings.Contains(got.Hint, "-D") {
		t.Errorf("no flag, no kind: hint %q, want it to name -D too", got.Hint)
	}
}

// hasFlag reports whether s starts with a -L/-R/-D flag as tunnel.ParseSpec reads one.
func hasFlag(s string) bool {
	s = strings.TrimSpace(s)
	for _, p := range []string{"-L", "-R", "-D", "L ", "L\t", "R ", "R\t", "D ", "D\t"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
