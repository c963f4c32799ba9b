package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAuditReadSyncDelayFromConfig: the configuration file's
// auditReadSyncDelay reaches the server's configuration.
func TestAuditReadSyncDelayFromConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want time.Duration
	}{
		{"absent: the server's default", "", 0},
		{"a delay", "auditReadSyncDelay: 250ms\n", 250 * time.Millisecond},
		{"negative: reads wait for fsync", "auditReadSyncDelay: -1s\n", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "master.key")
			if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "bulwark.yaml")
			cfg := "listen: 127.0.0.1:0\ndataDir: " + dir + "\nmasterKey:\n  file: " + keyFile + "\n" + tt.line
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			fc, err := loadFileConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := fc.serverConfig()
			if err != nil {
				t.Fatal(err)
			}
			if sc.AuditReadSyncDelay != tt.want {
				t.Errorf("AuditReadSyncDelay = %v, want %v", sc.AuditReadSyncDelay, tt.want)
			}
		})
	}
}
