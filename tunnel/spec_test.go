package tunnel

import (
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		in   string
		want Spec
	}{
		{0, "-L 8080:db:5432", Spec{Local, "", 8080, "db", 5432}},
		{0, "-L8080:db:5432", Spec{Local, "", 8080, "db", 5432}},
		{0, "L 8080:db:5432", Spec{Local, "", 8080, "db", 5432}},
		{0, "  -R   9000:localhost:80  ", Spec{Remote, "", 9000, "localhost", 80}},
		{Local, "8080:db:5432", Spec{Local, "", 8080, "db", 5432}},
		{Remote, "-R 0:127.0.0.1:22", Spec{Remote, "", 0, "127.0.0.1", 22}},
		{Local, "127.0.0.1:8080:db:5432", Spec{Local, "127.0.0.1", 8080, "db", 5432}},
		{Local, "localhost:8080:db:5432", Spec{Local, "localhost", 8080, "db", 5432}},
		{Local, "*:8080:db:5432", Spec{Local, "*", 8080, "db", 5432}},
		{Local, ":8080:db:5432", Spec{Local, "*", 8080, "db", 5432}},
		{Local, "[::1]:8080:[fd00::5]:80", Spec{Local, "::1", 8080, "fd00::5", 80}},
		{Local, "8080:[::1]:80", Spec{Local, "", 8080, "::1", 80}},
		{Local, "8080:[db]:80", Spec{Local, "", 8080, "db", 80}},
		{Local, "[*]:8080:db:80", Spec{Local, "*", 8080, "db", 80}},
		{Local, "[fe80::1%eth0]:8080:db:80", Spec{Local, "fe80::1%eth0", 8080, "db", 80}},
		{Local, "0:db:65535", Spec{Local, "", 0, "db", 65535}},
		{Local, "65535:db.example.com:1", Spec{Local, "", 65535, "db.example.com", 1}},
		{Local, "08080:db:0080", Spec{Local, "", 8080, "db", 80}},
		// OpenSSH's slash form, which lets IPv6 go without brackets.
		{Local, "8080/db/5432", Spec{Local, "", 8080, "db", 5432}},
		{Local, "::1/8080/fd00::5/80", Spec{Local, "::1", 8080, "fd00::5", 80}},
		{Remote, "/8080/h/80", Spec{Remote, "*", 8080, "h", 80}},
		// -D: the entry socket alone.
		{0, "-D 1080", Spec{Dynamic, "", 1080, "", 0}},
		{0, "-D1080", Spec{Dynamic, "", 1080, "", 0}},
		{Dynamic, "127.0.0.1:0", Spec{Dynamic, "127.0.0.1", 0, "", 0}},
		{Dynamic, "[::1]:1080", Spec{Dynamic, "::1", 1080, "", 0}},
		{Dynamic, "*:1080", Spec{Dynamic, "*", 1080, "", 0}},
		{Dynamic, ":1080", Spec{Dynamic, "*", 1080, "", 0}},
		{Dynamic, "localhost/1080", Spec{Dynamic, "localhost", 1080, "", 0}},
		{Dynamic, "::1/1080", Spec{Dynamic, "::1", 1080, "", 0}},
	} {
		got, err := ParseSpec(tt.kind, tt.in)
		if err != nil {
			t.Errorf("ParseSpec(%v, %q): %v", tt.kind, tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSpec(%v, %q) = %+v, want %+v", tt.kind, tt.in, got, tt.want)
		}
		if again, err := ParseForward(got.String()); err != nil || again != got {
			t.Errorf("ParseForward(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		in   string
		want string // in the error
	}{
		{Local, "8080:db", `bad -L spec "8080:db": 2 fields: want [bind_address:]port:host:hostport`},
		{0, "8080:db:5432", "want -L or -R"},
		{Remote, "-L 8080:db:5432", "says -L but a -R forward"},
		{Local, "", "empty"},
		{Local, "-L", "empty"},
		{Local, "a:b:c:d:e", "5 fields"},
		{Local, "8080:db:http", `hostport "http" is not a number`},
		{Local, "70000:db:80", "out of range"},
		{Local, "-1:db:80", "not a number"},
		{Local, "8080:db:0", "exit port must be 1-65535"},
		{Local, "8080::80", "empty host"},
		{Local, ":db:80", "empty port"},
		{Local, "[::1:8080:db:80", "unbalanced"},
		{Local, "[::1]x:8080:db:80", "unbalanced"},
		{Local, "8080:fd00::5:80", "fields"},
		{Local, "8080:d b:80", "bad character"},
		{Local, "8080:db%1:80", "not an IPv6 address"},
		{Local, "x y:8080:db:80", "bad character"},
		{'X', "8080", "bad forward kind"},
		{Dynamic, "", "empty"},
		{Dynamic, "1080:db:80", "3 fields"},
		{Dynamic, "a:b:1080", "3 fields"},
		{Dynamic, "70000", "out of range"},
		{Dynamic, "x y:1080", "bad character"},
		{Dynamic, "[::1:1080", "unbalanced"},
		{Local, "-D 1080", "says -D but a -L forward"},
	} {
		_, err := ParseSpec(tt.kind, tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSpec(%v, %q) error = %v, want it to say %q", tt.kind, tt.in, err, tt.want)
		}
	}
}

func TestSpecAddrs(t *testing.T) {
	for _, tt := range []struct {
		spec, str, entry, exit, cmd string
	}{
		{"-L 8080:db:5432", "-L 8080:db:5432", "localhost:8080", "db:5432", "ssh -N -L 8080:db:5432 -p 2222 alice@gw"},
		{"-L *:8080:db:5432", "-L *:8080:db:5432", ":8080", "db:5432", "ssh -N -L '*:8080:db:5432' -p 2222 alice@gw"},
		{"-L :8080:db:5432", "-L *:8080:db:5432", ":8080", "db:5432", "ssh -N -L '*:8080:db:5432' -p 2222 alice@gw"},
		{"-R [::1]:0:[fd00::5]:80", "-R [::1]:0:[fd00::5]:80", "[::1]:0", "[fd00::5]:80", "ssh -N -R '[::1]:0:[fd00::5]:80' -p 2222 alice@gw"},
		{"-R 127.0.0.1:9000:localhost:80", "-R 127.0.0.1:9000:localhost:80", "127.0.0.1:9000", "localhost:80", "ssh -N -R 127.0.0.1:9000:localhost:80 -p 2222 alice@gw"},
		{"-D 1080", "-D 1080", "localhost:1080", "", "ssh -N -D 1080 -p 2222 alice@gw"},
		{"-D [::1]:0", "-D [::1]:0", "[::1]:0", "", "ssh -N -D '[::1]:0' -p 2222 alice@gw"},
		{"-D *:1080", "-D *:1080", ":1080", "", "ssh -N -D '*:1080' -p 2222 alice@gw"},
	} {
		s := mustSpec(t, tt.spec)
		if got := s.String(); got != tt.str {
			t.Errorf("%q.String() = %q, want %q", tt.spec, got, tt.str)
		}
		if got := s.EntryAddr(); got != tt.entry {
			t.Errorf("%q.EntryAddr() = %q, want %q", tt.spec, got, tt.entry)
		}
		if got := s.ExitAddr(); got != tt.exit {
			t.Errorf("%q.ExitAddr() = %q, want %q", tt.spec, got, tt.exit)
		}
		if got := s.Command("alice", "gw", 2222); got != tt.cmd {
			t.Errorf("%q.Command() = %q, want %q", tt.spec, got, tt.cmd)
		}
	}
	if got := mustSpec(t, "-L 1:h:2").Command("", "gw", 22); got != "ssh -N -L 1:h:2 gw" {
		t.Errorf("Command without user and default port = %q", got)
	}
	if got := mustSpec(t, "-D 1080").CommandVia("bob@b1:2022,[::1]", "alice", "gw", 22); got != "ssh -N -D 1080 -J 'bob@b1:2022,[::1]' alice@gw" {
		t.Errorf("CommandVia = %q", got)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"-L 8080:db:5432", "-R0:localhost:22", "L [::1]:8080:[fd00::5]:80", ":8080:h:80",
		"*:0:h:1", "::1/8080/fd00::5/80", "[::1]:x", "[", "]", "[]:1:h:2", "-L", "1:[a]:2",
		"a:b:c:d:e", "8080:fe80::1%eth0:80", "[fe80::1%25eth0]:1:h:2", "-R //1//", "65536:h:1",
		"-L\t1:h:2", "R  1:h:2", "1:h:2\x00", "1:h\u00e9:2", "[::ffff:1.2.3.4]:1:h:2",
		"-D 1080", "-D [::1]:0", "D *:1", "-D :1", "-D a/1", "-D 1:h:2",
	} {
		f.Add(byte(0), s)
		f.Add(byte('L'), s)
		f.Add(byte('D'), s)
	}
	f.Fuzz(func(t *testing.T, k byte, s string) {
		spec, err := ParseSpec(Kind(k), s)
		if err != nil {
			return
		}
		switch spec.Kind {
		case Local, Remote:
			if spec.EntryPort < 0 || spec.EntryPort > 65535 || spec.ExitPort < 1 || spec.ExitPort > 65535 || spec.ExitHost == "" {
				t.Fatalf("ParseSpec(%q) = %+v: out of range", s, spec)
			}
		case Dynamic:
			if spec.EntryPort < 0 || spec.EntryPort > 65535 || spec.ExitPort != 0 || spec.ExitHost != "" {
				t.Fatalf("ParseSpec(%q) = %+v: a -D with an exit, or out of range", s, spec)
			}
		default:
			t.Fatalf("ParseSpec(%q) gave kind %v", s, spec.Kind)
		}
		again, err := ParseForward(spec.String())
		if err != nil {
			t.Fatalf("ParseForward(%q) (from %q): %v", spec.String(), s, err)
		}
		if again != spec {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, spec)
		}
		if kinded, err := ParseSpec(spec.Kind, spec.String()); err != nil || kinded != spec {
			t.Fatalf("ParseSpec(%v, %q) = %+v, %v", spec.Kind, spec.String(), kinded, err)
		}
	})
}

func mustSpec(t testing.TB, s string) Spec {
	t.Helper()
	spec, err := ParseForward(s)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
