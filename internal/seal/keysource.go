package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for [KeyFromPassphrase]. They follow the second
// recommended option of RFC 9106 §4 (t=3, m=64 MiB) for environments where
// 2 GiB per derivation is too much: the key is derived once per process
// start, so ~0.1–0.3 s and 64 MiB briefly are cheap for us, while each guess
// of an offline attacker who stole the salt and database costs the same
// memory and time. Two lanes match the small (2-core) machines Bulwark
// targets; more lanes would not slow an attacker, only our start-up.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2

	// SaltSize is the length in bytes of the passphrase salt.
	SaltSize = 16
	// MinPassphraseLen is the fewest characters (runes) a passphrase may have.
	MinPassphraseLen = 12
)

var errKeyFormat = errors.New("seal: master key must be the standard base64 encoding of exactly 32 bytes (e.g. the output of `openssl rand -base64 32`)")

// KeyFromBase64 decodes a master key given as standard base64 of 32 bytes,
// the format of the BULWARK_MASTER_KEY environment variable. Surrounding
// whitespace is ignored. Errors never include the input, which is secret.
func KeyFromBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: got an empty value", errKeyFormat)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not valid base64", errKeyFormat)
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes", errKeyFormat, len(key))
	}
	return key, nil
}

// LoadOrCreateKeyFile returns the master key kept base64-encoded in the file
// at path, creating the file (mode 0600) with a fresh random key if it does
// not exist; created reports which happened. This is the dev-mode key
// source: the key sits beside the data it protects, which guards the
// database file on its own (a copied or backed-up database) but not a
// stolen data directory.
//
// A file that group or others may access is refused rather than used, since
// the key in it may already have leaked; fix it with chmod 600.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	data, err := readPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, MasterKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, false, fmt.Errorf("seal: generate master key: %w", err)
		}
		enc := base64.StdEncoding.EncodeToString(key) + "\n"
		// Plain assignment, not :=, so the read below replaces the outer
		// ErrNotExist that brought us here.
		var won bool
		won, err = createFile(path, []byte(enc))
		if err != nil {
			return nil, false, err
		}
		if won {
			return key, true, nil
		}
		// Another process created the file first: use its key, not ours.
		data, err = readPrivateFile(path)
	}
	if err != nil {
		return nil, false, err
	}
	key, err = KeyFromBase64(string(data))
	if err != nil {
		return nil, false, fmt.Errorf("%w (in key file %s)", err, path)
	}
	return key, false, nil
}

// readPrivateFile reads path, refusing it if group or others have any access.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s has mode %04o, which lets group or others read it; refusing to use it (run chmod 600 %s after checking who may have read it)", path, perm, path)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("seal: read %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// KeyFromPassphrase derives a master key from an operator's passphrase with
// Argon2id (parameters above) and a random 16-byte salt kept in the file at
// saltPath, which is created (mode 0600) on first use. The same passphrase
// and salt file always give the same key; losing the salt file loses the key.
// Passphrases shorter than [MinPassphraseLen] characters are refused.
func KeyFromPassphrase(passphrase []byte, saltPath string) ([]byte, error) {
	if n := utf8.RuneCount(passphrase); n < MinPassphraseLen {
		return nil, fmt.Errorf("seal: passphrase has %d characters, want at least %d", n, MinPassphraseLen)
	}
	salt, err := os.ReadFile(saltPath)
	if errors.Is(err, fs.ErrNotExist) {
		salt = make([]byte, SaltSize)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("seal: generate salt: %w", err)
		}
		won, cerr := createFile(saltPath, salt)
		if cerr != nil {
			return nil, cerr
		}
		err = nil
		if !won {
			salt, err = os.ReadFile(saltPath)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("seal: read salt: %w", err)
	}
	if len(salt) != SaltSize {
		return nil, fmt.Errorf("seal: salt file %s holds %d bytes, want %d", saltPath, len(salt), SaltSize)
	}
	return argon2.IDKey(passphrase, salt, argonTime, argonMemory, argonThreads, MasterKeySize), nil
}

// createFile durably creates path (mode 0600) holding data, without ever
// exposing a partly written file: it writes and syncs a temporary file, then
// hard-links it into place, which fails if path exists. won is false when
// another process created path first; the caller then reads theirs. A key
// lost to a crash here would make every sealed secret unreadable, hence the
// fsyncs of both the file and its directory.
func createFile(path string, data []byte) (won bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("seal: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod keeps that true whatever it does.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("seal: create %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("seal: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("seal: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("seal: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("seal: create %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return true, fmt.Errorf("seal: sync directory %s: %w", dir, err)
		}
	}
	return true, nil
}
