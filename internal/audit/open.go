package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// tailChunk is how much of the file's end is read at a time while looking
// for the last lines.
const tailChunk = 64 << 10

// openFile opens or creates the log file, locks it, removes a torn final
// line and returns the file with the chain head (the last line's eventHash),
// its size and the number of bytes truncated.
func openFile(path string, opts Options) (f *os.File, last string, size, truncated int64, err error) {
	created := false
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		created = true
	} else if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("audit: open: %w", err)
	}
	// The error returns set f to nil: close the file through its own
	// variable, or a refused Open would keep the file and its lock.
	opened := f
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	if err = lockFile(f); err != nil {
		return nil, "", 0, 0, fmt.Errorf("audit: open %s: %w", path, err)
	}
	if created {
		// Make the new directory entry durable, or a crash could lose the
		// whole file along with events already acknowledged.
		if err = syncDir(filepath.Dir(path)); err != nil {
			return nil, "", 0, 0, err
		}
		return f, ZeroHash, 0, 0, nil
	}

	st, err := f.Stat()
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("audit: open: %w", err)
	}
	size = st.Size()
	end, err := lastIndexByte(f, size, '\n')
	if err != nil {
		return nil, "", 0, 0, fmt.Errorf("audit: open: read tail: %w", err)
	}
	validEnd := end + 1 // 0 when there is no complete line

	last = ZeroHash
	if validEnd > 0 {
		start, err := lastIndexByte(f, end, '\n')
		if err != nil {
			return nil, "", 0, 0, fmt.Errorf("audit: open: read tail: %w", err)
		}
		start++
		if end-start > MaxLineBytes {
			return nil, "", 0, 0, fmt.Errorf("audit: open %s: last line is longer than %d bytes: log corrupt, run verify", path, MaxLineBytes)
		}
		line := make([]byte, end-start)
		if _, err := f.ReadAt(line, start); err != nil {
			return nil, "", 0, 0, fmt.Errorf("audit: open: read last line: %w", err)
		}
		c, reason := parseLine(line)
		if reason == "" && !c.selfConsistent(sha256.New()) {
			reason = "eventHash does not match the line's contents"
		}
		if macs := opts.macs(); reason == "" && c.mac != nil && len(macs) > 0 && !c.macValid(macs) {
			reason = "eventHmac does not verify with the master key or the previous ones (forged, or written under another master key)"
		}
		if reason != "" {
			return nil, "", 0, 0, fmt.Errorf("audit: open %s: last complete line is corrupt (%s): refusing to continue the chain, run verify", path, reason)
		}
		last = string(c.hash)
	}

	if opts.VerifyOnOpen {
		// A file after a rotation begins mid-chain; its keys are checked
		// when they are given.
		v := newVerifier(VerifyOptions{Keys: opts.allKeys(), AllowPartialStart: true})
		if err := v.file(io.NewSectionReader(f, 0, validEnd), path); err != nil {
			return nil, "", 0, 0, fmt.Errorf("audit: open %s: %w", path, err)
		}
	}

	if torn := size - validEnd; torn > 0 {
		if err := f.Truncate(validEnd); err != nil {
			return nil, "", 0, 0, fmt.Errorf("audit: open: truncate torn line: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, "", 0, 0, fmt.Errorf("audit: open: truncate torn line: %w", err)
		}
		if opts.Logger != nil {
			opts.Logger.Warn("audit log: removed torn final line left by an interrupted write",
				"path", path, "bytes", torn, "offset", validEnd)
		}
		truncated = torn
	}
	return f, last, validEnd, truncated, nil
}

// lastIndexByte returns the offset of the last c in f[0:end], or -1.
func lastIndexByte(f io.ReaderAt, end int64, c byte) (int64, error) {
	buf := make([]byte, tailChunk)
	for end > 0 {
		n := min(int64(len(buf)), end)
		start := end - n
		if _, err := f.ReadAt(buf[:n], start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], c); i >= 0 {
			return start + int64(i), nil
		}
		end = start
	}
	return -1, nil
}

// syncDir fsyncs a directory so that an entry created in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: open: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("audit: open: sync dir: %w", err)
	}
	return nil
}
