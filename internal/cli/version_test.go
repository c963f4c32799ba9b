package cli

import (
	"bytes"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuildVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name     string
		ld       string
		info     *debug.BuildInfo
		want     BuildVersion
		wantText []string
	}{
		{
			name: "git checkout, dirty",
			ld:   "dev",
			info: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/bulwarkd/bulwark", Version: "v0.0.0-20261205140000-abcdef012345+dirty"},
				Settings: vcs("vcs", "git", "vcs.revision", "abcdef0123456789", "vcs.time", "2026-12-05T14:00:00Z", "vcs.modified", "true")},
			want: BuildVersion{Version: "v0.0.0-20261205140000-abcdef012345+dirty", Revision: "abcdef0123456789", Time: "2026-12-05T14:00:00Z", Modified: true,
				GoVersion: "go1.26.0", Module: "github.com/bulwarkd/bulwark"},
			wantText: []string{"bulwark v0.0.0-20261205140000-abcdef012345+dirty\n", "abcdef0123456789 (modified", "2026-12-05T14:00:00Z", "go1.26.0"},
		},
		{
			name:     "go install @version: no VCS settings",
			ld:       "dev",
			info:     &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/bulwarkd/bulwark", Version: "v1.2.3"}},
			want:     BuildVersion{Version: "v1.2.3", GoVersion: "go1.26.0", Module: "github.com/bulwarkd/bulwark"},
			wantText: []string{"bulwark v1.2.3\n", "built without VCS information", "time:     unknown"},
		},
		{
			name:     "release: the link-time version wins, clean tree",
			ld:       "v2.0.0",
			info:     &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "feed", "vcs.modified", "false")},
			want:     BuildVersion{Version: "v2.0.0", Revision: "feed", GoVersion: "go1.26.0"},
			wantText: []string{"bulwark v2.0.0\n", "revision: feed\n"},
		},
		{
			name:     "no build info",
			ld:       "dev",
			want:     BuildVersion{Version: "dev", GoVersion: runtime.Version()},
			wantText: []string{"bulwark dev\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := readBuildVersion(tc.ld, tc.info)
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			var b bytes.Buffer
			if err := got.writeText(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(b.String(), w) {
					t.Errorf("text lacks %q:\n%s", w, b.String())
				}
			}
			if !tc.want.Modified && strings.Contains(b.String(), "modified") {
				t.Errorf("a clean tree reported as modified:\n%s", b.String())
			}
		})
	}
}

func TestVersionCommandOutputs(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"version", "-o", "json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	var v BuildVersion
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("-o json is not one BuildVersion object: %v", err)
	}
	if v.Version == "" || v.GoVersion != runtime.Version() || v.Platform == "" {
		t.Errorf("json report incomplete: %+v", v)
	}
	out.Reset()
	if code := Main([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "bulwark ") {
		t.Errorf("text: exit %d %q", code, out.String())
	}
	out.Reset()
	errb.Reset()
	if code := Main([]string{"version", "-o", "yaml"}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "-o json") {
		t.Errorf("unknown format accepted or unexplained: exit %d %q", code, errb.String())
	}
}
