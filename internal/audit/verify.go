package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// BrokenError reports the first line of a log that fails verification.
type BrokenError struct {
	// Line is the 1-based number of the broken line.
	Line int
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit: chain broken at line %d: %s", e.Line, e.Reason)
}

// tailLen is the length of the fixed-format end of every line:
// `,"previousEventHash":"<64>","eventHash":"<64>"}`.
const tailLen = len(`,"previousEventHash":"`) + hashLen + len(`"`) + len(hashMember) + hashLen + len(`"}`)

// chainLine is a parsed line: the hashes it carries and the canonical bytes
// its eventHash covers (body followed by '}').
type chainLine struct {
	body []byte // the line up to, not including, `,"eventHash":"`
	prev []byte // 64 hex characters
	hash []byte // 64 hex characters
}

// parseLine checks that line (without its newline) ends with the chain
// members in the writer's exact format and is valid JSON. It returns a
// reason when it is not.
func parseLine(line []byte) (chainLine, string) {
	if len(line) > MaxLineBytes {
		return chainLine{}, fmt.Sprintf("line longer than %d bytes", MaxLineBytes)
	}
	if len(line) < tailLen+1 {
		return chainLine{}, "line too short to carry previousEventHash and eventHash"
	}
	t := line[len(line)-tailLen:]
	const (
		p1 = `,"previousEventHash":"`
		p2 = `"` + hashMember
		p3 = `"}`
	)
	prev := t[len(p1) : len(p1)+hashLen]
	mid := t[len(p1)+hashLen : len(p1)+hashLen+len(p2)]
	h := t[len(t)-len(p3)-hashLen : len(t)-len(p3)]
	if !bytes.HasPrefix(t, []byte(p1)) || !bytes.Equal(mid, []byte(p2)) || !bytes.HasSuffix(t, []byte(p3)) ||
		!isLowerHex(prev) || !isLowerHex(h) {
		return chainLine{}, `line does not end with "previousEventHash":"<hex>","eventHash":"<hex>"}`
	}
	if !json.Valid(line) || line[0] != '{' {
		return chainLine{}, "line is not a JSON object"
	}
	body := line[:len(line)-len(hashMember)-hashLen-len(p3)]
	return chainLine{body: body, prev: prev, hash: h}, ""
}

// isLowerHex reports whether b is all lowercase hex digits.
func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sumLine computes hex(SHA-256(prev || body || "}")) into dst, reusing h.
func sumLine(h hash.Hash, dst *[hashLen]byte, prev, body []byte) {
	var sum [sha256.Size]byte
	h.Reset()
	h.Write(prev)
	h.Write(body)
	h.Write([]byte{'}'})
	hex.Encode(dst[:], h.Sum(sum[:0]))
}

// selfConsistent reports whether a parsed line's eventHash matches its bytes.
func (c chainLine) selfConsistent(h hash.Hash) bool {
	var got [hashLen]byte
	sumLine(h, &got, c.prev, c.body)
	return bytes.Equal(got[:], c.hash)
}

// Verify reads a log from r and checks every line: that it is a complete,
// valid JSON line, that its eventHash matches its bytes, and that its
// previousEventHash equals the previous line's eventHash (ZeroHash for the
// first line). It returns the number of lines verified. The first broken
// line is reported as a *BrokenError, with the count of good lines before
// it; a read error is returned as it is. An empty log verifies with 0.
func Verify(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h := sha256.New()
	expected := []byte(ZeroHash)
	var prevHash [hashLen]byte
	var long []byte
	n := 0
	for {
		line, err := readLine(br, &long)
		if err == io.EOF && len(line) == 0 {
			return n, nil
		}
		lineNo := n + 1
		if errors.Is(err, errLineTooLong) {
			return n, &BrokenError{Line: lineNo, Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		if err != nil && err != io.EOF {
			return n, fmt.Errorf("audit: verify: read line %d: %w", lineNo, err)
		}
		if err == io.EOF {
			return n, &BrokenError{Line: lineNo, Reason: "incomplete final line (no newline; torn write)"}
		}
		c, reason := parseLine(line)
		if reason != "" {
			return n, &BrokenError{Line: lineNo, Reason: reason}
		}
		if !c.selfConsistent(h) {
			return n, &BrokenError{Line: lineNo, Reason: "eventHash does not match the line's contents (line modified)"}
		}
		if !bytes.Equal(c.prev, expected) {
			reason := "previousEventHash does not match the previous line's eventHash (line missing, inserted or reordered)"
			if n == 0 {
				reason = "first line's previousEventHash is not " + ZeroHash[:8] + "… (log does not start here)"
			}
			return n, &BrokenError{Line: lineNo, Reason: reason}
		}
		copy(prevHash[:], c.hash)
		expected = prevHash[:]
		n++
	}
}

// errLineTooLong is readLine's report of a line over MaxLineBytes.
var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its '\n'. It returns io.EOF with a
// non-empty line for an unterminated final line. Lines longer than the
// reader's buffer are assembled in *long, which is reused between calls; the
// returned slice is valid until the next call.
func readLine(br *bufio.Reader, long *[]byte) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if err == nil {
		return b[:len(b)-1], nil
	}
	if err != bufio.ErrBufferFull {
		return b, err
	}
	acc := append((*long)[:0], b...)
	for {
		b, err = br.ReadSlice('\n')
		if len(acc)+len(b) > MaxLineBytes+1 {
			*long = acc[:0]
			return nil, errLineTooLong
		}
		acc = append(acc, b...)
		switch {
		case err == nil:
			*long = acc
			return acc[:len(acc)-1], nil
		case err != bufio.ErrBufferFull:
			*long = acc
			return acc, err
		}
	}
}

// VerifyFile verifies the log at path; see Verify. It does not need the log
// to be closed by its writer, but lines being written concurrently may be
// reported as an incomplete final line.
func VerifyFile(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit: verify: %w", err)
	}
	defer f.Close()
	return Verify(f)
}
