package certsource

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// File reads PEM files from disk. CertFile and KeyFile go together; either
// pair or TrustFile may be empty. Files are re-read whole on every Load, so
// in-place writes, renames over the path and symlink swaps are all seen.
type File struct {
	CertFile  string
	KeyFile   string
	TrustFile string
}

func (f File) paths() []string {
	var ps []string
	for _, p := range []string{f.CertFile, f.KeyFile, f.TrustFile} {
		if p != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

// Version returns a fingerprint of the files' identity (device, inode,
// size, modification time) after following symlinks, so any swap changes
// it without reading the contents.
func (f File) Version(ctx context.Context) (string, error) {
	var b strings.Builder
	for _, p := range f.paths() {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		var dev, ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			dev, ino = uint64(st.Dev), st.Ino
		}
		fmt.Fprintf(&b, "%d:%d:%d:%d;", dev, ino, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// Load reads and parses the files.
func (f File) Load(ctx context.Context) (*Material, error) {
	read := func(p string) ([]byte, error) {
		if p == "" {
			return nil, nil
		}
		return os.ReadFile(p)
	}
	cert, err := read(f.CertFile)
	if err != nil {
		return nil, err
	}
	key, err := read(f.KeyFile)
	if err != nil {
		return nil, err
	}
	trust, err := read(f.TrustFile)
	if err != nil {
		return nil, err
	}
	return Parse(cert, key, trust)
}

// Static serves fixed material; useful in tests and for material handed
// over in memory (an ACM export the proxy must not write to disk).
type Static struct{ M *Material }

// Load returns the fixed material.
func (s Static) Load(context.Context) (*Material, error) { return s.M, nil }
