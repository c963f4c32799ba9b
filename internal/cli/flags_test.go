package cli

import (
	"bytes"
	"strings"
	"testing"
)

// run runs the CLI in-process and returns its exit code and output.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestServerRefusesDevFlagsWithConfig: a dev-mode flag given with
// --config would be silently ignored, so every one of them is refused,
// naming the setting to use instead (before the file is even read).
func TestServerRefusesDevFlagsWithConfig(t *testing.T) {
	t.Parallel()
	values := map[string]string{"max-connections": "10", "max-unauthenticated-body-bytes": "10", "xds-allow-unsigned": "true"}
	for _, d := range devOnlyFlags {
		t.Run(d.flag, func(t *testing.T) {
			t.Parallel()
			v, ok := values[d.flag]
			if !ok {
				v = "x"
			}
			code, _, stderr := runMain(t, "server", "--config", "/nonexistent/bulwark.yaml", "--"+d.flag+"="+v)
			if code != 1 || !strings.Contains(stderr, "--"+d.flag+" is not used with --config") || !strings.Contains(stderr, d.setting) {
				t.Errorf("exit %d, stderr %q: want a refusal naming --%s and %s", code, stderr, d.flag, d.setting)
			}
		})
	}
}

func TestServerNeedsExactlyOneMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"neither", []string{"server"}},
		{"both", []string{"server", "--dev", "--config", "x.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runMain(t, tc.args...)
			if code != 1 || !strings.Contains(stderr, "choose one: --dev") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

func TestBadUsageExitsNonZero(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"no-such-command"}, "unknown command"},
		{"unknown flag", []string{"server", "--no-such-flag"}, "unknown flag"},
		{"bad int", []string{"server", "--dev", "--max-connections=lots"}, "max-connections"},
		{"bad duration", []string{"server", "--dev", "--shutdown-timeout=soon"}, "shutdown-timeout"},
		{"stray argument", []string{"server", "extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runMain(t, tc.args...)
			if code != 1 || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "bulwark: ") {
				t.Errorf("exit %d, stderr %q: want 1 and a message naming %q", code, stderr, tc.want)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"debug", true}, {"info", true}, {"warn", true}, {"error", true}, {"ERROR", true},
		{"", false}, {"verbose", false}, {"info; rm -rf /", false},
	} {
		_, err := parseLevel(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("parseLevel(%q): err %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "debug, info, warn or error") {
			t.Errorf("parseLevel(%q): %v does not say what to use", tc.in, err)
		}
	}
}

// TestCheckPublicURL: the public URL goes into every issued certificate's
// CRL distribution point, so anything that is not a plain http(s) URL
// with a host is refused.
func TestCheckPublicURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flag, def, want string
		ok              bool
	}{
		{"", "http://127.0.0.1:4566", "http://127.0.0.1:4566", true},
		{"https://ca.example.com/", "", "https://ca.example.com", true},
		{"https://ca.example.com:4641/base", "", "https://ca.example.com:4641/base", true},
		{"ftp://ca.example.com", "", "", false},
		{"javascript:alert(1)", "", "", false},
		{"https://", "", "", false},
		{"/relative", "", "", false},
		{"https://user:pw@ca.example.com", "", "", false},
		{"https://ca.example.com/?x=1", "", "", false},
		{"https://ca.example.com/#frag", "", "", false},
		{"http://ca.example.com/%zz", "", "", false},
	} {
		got, err := checkPublicURL(tc.flag, tc.def)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("checkPublicURL(%q, %q) = %q, %v; want %q ok=%v", tc.flag, tc.def, got, err, tc.want, tc.ok)
		}
	}
}
