package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit runs `systemd-analyze verify` on
// examples/deploy/systemd/bulwark.service (with ExecStart pointed at the
// binary under test; any warning fails, as verify itself exits 0 on
// unknown keys), checks the hardening it promises, and that every
// credential the configuration reads is one the unit loads.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("../examples/deploy/systemd/bulwark.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	keys := map[string][]string{}
	for _, line := range strings.Split(stripComments(unit), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			keys[k] = append(keys[k], v)
		}
	}
	for k, want := range map[string]string{
		"ProtectSystem": "strict", "NoNewPrivileges": "yes", "DynamicUser": "yes",
		"StateDirectory": "bulwark", "PrivateTmp": "yes", "CapabilityBoundingSet": "", "UMask": "0077",
	} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %q", k, got, want)
		}
	}
	loaded := map[string]bool{}
	for _, c := range keys["LoadCredential"] {
		id, _, _ := strings.Cut(c, ":")
		loaded[id] = true
	}
	if !loaded["master.key"] {
		t.Error("the master key is not loaded as a credential")
	}
	cfg, err := os.ReadFile("../examples/deploy/systemd/bulwark.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const credDir = "/run/credentials/bulwark.service/"
	for _, line := range strings.Split(stripComments(string(cfg)), "\n") {
		if i := strings.Index(line, credDir); i >= 0 {
			id := strings.TrimSpace(line[i+len(credDir):])
			if !loaded[id] {
				t.Errorf("bulwark.yaml reads credential %q, which the unit does not load", id)
			}
		}
	}
	if !strings.Contains(string(cfg), credDir+"master.key") {
		t.Error("bulwark.yaml does not read the master key from the credential")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is not installed; .ci/run installs it (Debian package systemd)")
		}
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bulwark.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/bulwark", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The same check catches a misspelt directive (verify exits 0 on it).
	bad := filepath.Join(dir, "bad.service")
	os.WriteFile(bad, []byte(strings.Replace(unit, "ProtectSystem=strict", "ProtectSytem=strict", 1)), 0o644)
	if out, _ := exec.Command(analyze, "verify", bad).CombinedOutput(); !strings.Contains(string(out), "ProtectSytem") {
		t.Errorf("a misspelt directive went unreported: %s", out)
	}
}
