package seal

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestKeyFromBase64(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(testKey(7))
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; "" = success
	}{
		{"valid", good, ""},
		{"surrounding whitespace", "  " + good + "\n", ""},
		{"empty", "", "empty"},
		{"not base64", "this is not base64!!", "not valid base64"},
		{"url encoding", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))), "not valid base64"},
		{"16 bytes", base64.StdEncoding.EncodeToString(make([]byte, 16)), "decodes to 16 bytes"},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), "decodes to 33 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key, err := KeyFromBase64(tc.in)
			if tc.wantErr == "" {
				if err != nil || !bytes.Equal(key, testKey(7)) {
					t.Fatalf("KeyFromBase64 = %x, %v", key, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) || !strings.Contains(msg, "base64 encoding of exactly 32 bytes") {
				t.Errorf("error %q should contain %q and name the expected format", msg, tc.wantErr)
			}
			if len(tc.in) > 8 && strings.Contains(msg, strings.TrimSpace(tc.in)) {
				t.Errorf("error %q leaks the input", msg)
			}
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(key) != MasterKeySize {
		t.Fatalf("first call = %x, %v, %v; want new 32-byte key", key, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("created key file mode = %04o, want 0600", perm)
	}
	again, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second call = %x, %v, %v; want the same key, not created", again, created, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the key file (temp file left behind?)", len(entries))
	}
}

func TestLoadOrCreateKeyFileRefuses(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(testKey(3)) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"group readable", good, 0o640, "mode 0640"},
		{"world readable", good, 0o604, "mode 0604"},
		{"group writable", good, 0o620, "mode 0620"},
		{"garbage", "not a key", 0o600, "base64"},
		{"short key", base64.StdEncoding.EncodeToString(make([]byte, 8)), 0o600, "decodes to 8 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // bypass umask
				t.Fatal(err)
			}
			key, _, err := LoadOrCreateKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("LoadOrCreateKeyFile = %x, %v; want error containing %q", key, err, tc.wantErr)
			}
			if got, _ := os.ReadFile(path); string(got) != tc.content {
				t.Error("refused key file was modified")
			}
		})
	}
	t.Run("missing directory", func(t *testing.T) {
		t.Parallel()
		if _, _, err := LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "no", "such", "master.key")); err == nil {
			t.Fatal("no error for a key file in a missing directory")
		}
	})
}

func TestKeyFromPassphrase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	saltA := filepath.Join(dir, "salt-a")
	pass := []byte("correct horse battery")

	k1, err := KeyFromPassphrase(pass, saltA)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(saltA)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != SaltSize {
		t.Errorf("salt file mode %04o size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), SaltSize)
	}
	k2, err := KeyFromPassphrase(pass, saltA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) || len(k1) != MasterKeySize {
		t.Fatalf("same passphrase and salt gave %x then %x", k1, k2)
	}
	other, err := KeyFromPassphrase([]byte("correct horse batterz"), saltA)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k1, other) {
		t.Error("different passphrases gave the same key")
	}
	newSalt, err := KeyFromPassphrase(pass, filepath.Join(dir, "salt-b"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k1, newSalt) {
		t.Error("different salts gave the same key")
	}
}

func TestKeyFromPassphraseRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badSalt := filepath.Join(dir, "bad-salt")
	if err := os.WriteFile(badSalt, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		passphrase string
		saltPath   string
		wantErr    string
	}{
		{"empty", "", filepath.Join(dir, "s1"), "0 characters"},
		{"11 characters", "abcdefghijk", filepath.Join(dir, "s2"), "11 characters"},
		{"11 runes in more bytes", "ééééééééééé", filepath.Join(dir, "s3"), "11 characters"},
		{"bad salt file", "long enough passphrase", badSalt, "holds 5 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := KeyFromPassphrase([]byte(tc.passphrase), tc.saltPath)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestKeySourcesConcurrentCreate starts many callers at once on a key file
// or salt file that does not exist yet, as several processes starting
// together would: exactly one creates it, and every caller must come back
// with that one key instead of an error or a key of its own.
func TestKeySourcesConcurrentCreate(t *testing.T) {
	t.Parallel()
	pass := []byte("correct horse battery staple")
	tests := []struct {
		name    string
		rounds  int
		callers int
		load    func(path string) ([]byte, error)
	}{
		{"key file", 50, 32, func(path string) ([]byte, error) {
			k, _, err := LoadOrCreateKeyFile(path)
			return k, err
		}},
		// Argon2id costs 64 MiB a call: a few callers are enough.
		{"passphrase salt", 2, 3, func(path string) ([]byte, error) {
			return KeyFromPassphrase(pass, path)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for round := range tc.rounds {
				path := filepath.Join(dir, fmt.Sprintf("k%d", round))
				start := make(chan struct{})
				keys := make([][]byte, tc.callers)
				errs := make([]error, tc.callers)
				var wg sync.WaitGroup
				for i := range tc.callers {
					wg.Go(func() {
						<-start
						keys[i], errs[i] = tc.load(path)
					})
				}
				close(start)
				wg.Wait()
				for i := range tc.callers {
					if errs[i] != nil {
						t.Fatalf("round %d caller %d: %v", round, i, errs[i])
					}
					if !bytes.Equal(keys[i], keys[0]) {
						t.Fatalf("round %d: callers got different keys for the same file", round)
					}
				}
			}
		})
	}
}
