package certsync

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// On-disk layout (docs/lifecycle.md):
//
//	DIR/v-<version>-<random>/{cert.pem,chain.pem,key.pem}   one complete set each
//	DIR/current   -> v-<version>-<random>                   swapped by rename(2)
//	DIR/cert.pem  -> current/cert.pem                       fixed links for
//	DIR/chain.pem -> current/chain.pem                      proxies configured
//	DIR/key.pem   -> current/key.pem                        with file paths
const (
	CurrentLink = "current"
	CertFile    = "cert.pem"
	ChainFile   = "chain.pem"
	KeyFile     = "key.pem"
	versionPfx  = "v-"
	tmpLinkPfx  = ".link-"
)

// Writer writes bundles into a directory so that the set changes in one
// atomic step: files go into a fresh version directory, are fsynced, and
// the "current" symlink is then replaced by rename. A crash at any point
// leaves "current" at the old complete set or the new one.
type Writer struct {
	// Dir is the output directory, created 0700 if missing.
	Dir string
	// Keep is how many version directories to keep (the current one and
	// older ones, for readers that resolved "current" just before a swap);
	// zero means 2.
	Keep int

	// failpoint, when set, is called after each step and may abort the
	// write there, leaving its partial state behind as a crash would.
	failpoint func(step string) error
}

// Write places b as the current set and returns the version directory.
func (w *Writer) Write(b *Bundle) (string, error) {
	if err := os.MkdirAll(w.Dir, 0o700); err != nil {
		return "", err
	}
	vdir, err := os.MkdirTemp(w.Dir, versionPfx+safeName(b.VersionID)+"-")
	if err != nil {
		return "", err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CertFile, b.CertPEM, 0o644},
		{ChainFile, b.ChainPEM, 0o644},
		{KeyFile, b.KeyPEM, 0o600},
	}
	for _, f := range files {
		if err := writeSynced(filepath.Join(vdir, f.name), f.data, f.mode); err != nil {
			return "", err
		}
		if err := w.fail(f.name); err != nil {
			return "", err
		}
	}
	if err := syncDir(vdir); err != nil {
		return "", err
	}
	if err := w.fail("before-swap"); err != nil {
		return "", err
	}
	if err := replaceSymlink(w.Dir, filepath.Base(vdir), CurrentLink); err != nil {
		return "", err
	}
	if err := w.fail("after-swap"); err != nil {
		return "", err
	}
	for _, name := range []string{CertFile, ChainFile, KeyFile} {
		if err := ensureSymlink(w.Dir, filepath.Join(CurrentLink, name), name); err != nil {
			return "", err
		}
	}
	if err := syncDir(w.Dir); err != nil {
		return "", err
	}
	w.prune(filepath.Base(vdir))
	return vdir, nil
}

func (w *Writer) fail(step string) error {
	if w.failpoint == nil {
		return nil
	}
	return w.failpoint(step)
}

// writeSynced writes a new file (never an existing one) and fsyncs it.
func writeSynced(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// replaceSymlink points dir/name at target atomically: a new link under a
// temporary name, renamed over the old one.
func replaceSymlink(dir, target, name string) error {
	tmp, err := os.CreateTemp(dir, tmpLinkPfx)
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	tmp.Close()
	if err := os.Remove(tmpName); err != nil {
		return err
	}
	if err := os.Symlink(target, tmpName); err != nil {
		return err
	}
	if err := os.Rename(tmpName, filepath.Join(dir, name)); err != nil {
		os.Remove(tmpName)
		return err
	}
	return nil
}

// ensureSymlink makes dir/name a link to target unless it already is one
// (a regular file left by an older layout is replaced atomically too).
func ensureSymlink(dir, target, name string) error {
	if cur, err := os.Readlink(filepath.Join(dir, name)); err == nil && cur == target {
		return nil
	}
	return replaceSymlink(dir, target, name)
}

// prune removes version directories beyond Keep (oldest first, never the
// current one) and temporary links a crash left. Failures only waste disk.
func (w *Writer) prune(current string) {
	keep := w.Keep
	if keep <= 0 {
		keep = 2
	}
	entries, err := os.ReadDir(w.Dir)
	if err != nil {
		return
	}
	type vd struct {
		name string
		mod  int64
	}
	var versions []vd
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tmpLinkPfx):
			os.Remove(filepath.Join(w.Dir, name))
		case e.IsDir() && strings.HasPrefix(name, versionPfx) && name != current:
			if info, err := e.Info(); err == nil {
				versions = append(versions, vd{name, info.ModTime().UnixNano()})
			}
		}
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].mod > versions[j].mod })
	for i, v := range versions {
		if i >= keep-1 {
			os.RemoveAll(filepath.Join(w.Dir, v.name))
		}
	}
}

// ReadCurrent reads the set "current" points to, resolving the link once
// so that the three files come from one version even during a swap: the
// way a reader that must never mix versions should read them.
func ReadCurrent(dir string) (cert, chain, key []byte, err error) {
	target, err := os.Readlink(filepath.Join(dir, CurrentLink))
	if err != nil {
		return nil, nil, nil, err
	}
	vdir := filepath.Join(dir, target)
	if cert, err = os.ReadFile(filepath.Join(vdir, CertFile)); err != nil {
		return nil, nil, nil, err
	}
	if chain, err = os.ReadFile(filepath.Join(vdir, ChainFile)); err != nil {
		return nil, nil, nil, err
	}
	if key, err = os.ReadFile(filepath.Join(vdir, KeyFile)); err != nil {
		return nil, nil, nil, err
	}
	return cert, chain, key, nil
}

// safeName keeps a version id usable in a file name.
func safeName(s string) string {
	if s == "" {
		return "unversioned"
	}
	var b strings.Builder
	for _, r := range s {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
		if b.Len() >= 36 {
			break
		}
	}
	return b.String()
}
