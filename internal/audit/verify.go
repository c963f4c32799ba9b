package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"
)

// BrokenError reports the first line of a log that fails verification.
type BrokenError struct {
	// File is the file's path ("" from Verify).
	File string
	// Line is the 1-based number of the broken line.
	Line int
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *BrokenError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("audit: %s: chain broken at line %d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("audit: chain broken at line %d: %s", e.Line, e.Reason)
}

// tailLen is the length of the fixed-format end of every line:
// `,"previousEventHash":"<64>","eventHash":"<64>"}`; a keyed line has
// `,"eventHmac":"<64>"` (macLen bytes) before `,"eventHash"`.
const (
	tailLen = len(`,"previousEventHash":"`) + hashLen + len(`"`) + len(hashMember) + hashLen + len(`"}`)
	macLen  = len(macMember) + hashLen + len(`"`)
)

// chainLine is a parsed line: the hashes it carries and the canonical bytes
// its eventHash covers (body followed by '}').
type chainLine struct {
	body []byte // the line up to, not including, `,"eventHash":"`
	prev []byte // 64 hex characters
	hash []byte // 64 hex characters
	// mac is the eventHmac (64 hex characters) of a keyed line, nil
	// otherwise; macBody the line up to `,"eventHmac":"`, which it covers.
	mac     []byte
	macBody []byte
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
	const (
		p1 = `,"previousEventHash":"`
		p3 = `"}`
	)
	var c chainLine
	// The last member: `,"eventHash":"<64>"}`.
	end := len(line) - len(p3)
	c.hash = line[end-hashLen : end]
	c.body = line[:end-hashLen-len(hashMember)]
	if !bytes.HasSuffix(line, []byte(p3)) || !bytes.HasSuffix(c.body, []byte(`"`)) ||
		string(line[len(c.body):len(c.body)+len(hashMember)]) != hashMember || !isLowerHex(c.hash) {
		return chainLine{}, `line does not end with "previousEventHash":"<hex>","eventHash":"<hex>"}`
	}
	rest := c.body
	if len(rest) >= macLen && string(rest[len(rest)-macLen:len(rest)-macLen+len(macMember)]) == macMember {
		c.mac = rest[len(rest)-hashLen-1 : len(rest)-1]
		rest = rest[:len(rest)-macLen]
		c.macBody = rest
		if !isLowerHex(c.mac) {
			return chainLine{}, "eventHmac is not 64 lowercase hex digits"
		}
	}
	// What is left ends with `,"previousEventHash":"<64>"`.
	if len(rest) < len(p1)+hashLen+1+1 {
		return chainLine{}, "line too short to carry previousEventHash and eventHash"
	}
	c.prev = rest[len(rest)-1-hashLen : len(rest)-1]
	if string(rest[len(rest)-1-hashLen-len(p1):len(rest)-1-hashLen]) != p1 || !isLowerHex(c.prev) {
		return chainLine{}, `line does not end with "previousEventHash":"<hex>","eventHash":"<hex>"}`
	}
	if !json.Valid(line) || line[0] != '{' {
		return chainLine{}, "line is not a JSON object"
	}
	return c, ""
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

// macValid reports whether a keyed line's eventHmac verifies with one of
// macs (HMAC hashers).
func (c chainLine) macValid(macs []hash.Hash) bool {
	var got [hashLen]byte
	for _, m := range macs {
		sumLine(m, &got, c.prev, c.macBody)
		if hmac.Equal(got[:], c.mac) {
			return true
		}
	}
	return false
}

// Verify reads a log from r and checks every line: that it is a complete,
// valid JSON line, that its eventHash matches its bytes, and that its
// previousEventHash equals the previous line's eventHash (ZeroHash for the
// first line). It returns the number of lines verified. The first broken
// line is reported as a *BrokenError, with the count of good lines before
// it; a read error is returned as it is. An empty log verifies with 0.
//
// Verify checks no key: an eventHmac or checkpoint signature is only
// checked for form. Use VerifyFiles with keys to authenticate a log.
func Verify(r io.Reader) (int, error) {
	v := newVerifier(VerifyOptions{})
	err := v.file(r, "")
	return v.rep.Lines, err
}

// VerifyOptions says what VerifyFiles may check with.
type VerifyOptions struct {
	// Keys check every eventHmac and (with their public halves) every
	// checkpoint signature. Give the keys of the current and any retired
	// master keys the log was written under.
	Keys []*Keys
	// PublicKeys check checkpoint signatures only: whoever holds them can
	// verify but not forge.
	PublicKeys []ed25519.PublicKey
	// AllowPartialStart accepts a first line whose previousEventHash is not
	// ZeroHash: the files given begin in the middle of a rotated log (the
	// earlier files were deleted). The default reports it as broken.
	AllowPartialStart bool
}

// Report is what VerifyFiles established about a log.
type Report struct {
	// Lines is the number of lines whose chain verified.
	Lines int
	// Unkeyed lines carry no eventHmac (written without keys, before
	// keyed logs existed): only the unkeyed chain protects them, which
	// anyone able to write the file can recompute.
	Unkeyed int
	// MACVerified lines had their eventHmac checked with a key;
	// MACUnchecked lines have one but no key was given.
	MACVerified, MACUnchecked int
	// Checkpoints is the number of checkpoint lines; Signed of them had
	// their signature verified, Unverified have a signature no key was
	// given to check, and Unsigned have none (written without keys).
	Checkpoints, Signed, Unverified, Unsigned int
	// SignedThrough is the number of leading lines covered by the last
	// verified signature (every line up to and including that checkpoint).
	SignedThrough int
	// LastReason is the reason of the last line if it is a checkpoint ("close"
	// for a log closed cleanly), else "".
	LastReason string
	// Files are the lines verified in each file, in order.
	Files []int
}

// UnsignedTail is the number of lines after the last verified signature.
func (r *Report) UnsignedTail() int { return r.Lines - r.SignedThrough }

// verifier carries the chain state across the files of one log.
type verifier struct {
	opts     VerifyOptions
	macs     []hash.Hash
	pubs     []ed25519.PublicKey
	h        hash.Hash
	expected [hashLen]byte
	started  bool // a line has been seen
	keyed    bool // an eventHmac or a signature has been seen
	long     []byte
	rep      Report
}

func newVerifier(opts VerifyOptions) *verifier {
	v := &verifier{opts: opts, h: sha256.New(), pubs: append([]ed25519.PublicKey(nil), opts.PublicKeys...)}
	copy(v.expected[:], ZeroHash)
	for _, k := range opts.Keys {
		v.macs = append(v.macs, newMAC(k.MAC))
		v.pubs = append(v.pubs, k.PublicKey())
	}
	return v
}

// VerifyFiles verifies the files of one log in order (rotated files
// oldest first, then the current one): each line as Verify does, the chain
// continuing from each file into the next (a missing or misplaced file is
// reported at the first line of the file after the gap), and with
// opts' keys every eventHmac and checkpoint signature. A keyed log may start
// with unkeyed lines (written before the upgrade), but once a line carries
// an eventHmac or a signed checkpoint, a later line without one is reported
// as broken. The first broken line is a *BrokenError naming its file.
func VerifyFiles(paths []string, opts VerifyOptions) (*Report, error) {
	v := newVerifier(opts)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return &v.rep, fmt.Errorf("audit: verify: %w", err)
		}
		before := v.rep.Lines
		err = v.file(f, p)
		f.Close()
		v.rep.Files = append(v.rep.Files, v.rep.Lines-before)
		if err != nil {
			return &v.rep, err
		}
	}
	return &v.rep, nil
}

// checkpointFields are the members of a line a checkpoint needs.
type checkpointFields struct {
	EventType  string      `json:"eventType"`
	EventTime  time.Time   `json:"eventTime"`
	Checkpoint *Checkpoint `json:"checkpoint"`
}

// file verifies one file of the log, continuing the chain state.
func (v *verifier) file(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	broken := func(reason string) error {
		return &BrokenError{File: name, Line: n + 1, Reason: reason}
	}
	for {
		line, err := readLine(br, &v.long)
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if errors.Is(err, errLineTooLong) {
			return broken(fmt.Sprintf("line longer than %d bytes", MaxLineBytes))
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("audit: verify: read line %d: %w", n+1, err)
		}
		if err == io.EOF {
			return broken("incomplete final line (no newline; torn write)")
		}
		c, reason := parseLine(line)
		if reason != "" {
			return broken(reason)
		}
		if !c.selfConsistent(v.h) {
			return broken("eventHash does not match the line's contents (line modified)")
		}
		if !bytes.Equal(c.prev, v.expected[:]) {
			switch {
			case !v.started && v.opts.AllowPartialStart:
			case !v.started:
				return broken("first line's previousEventHash is not " + ZeroHash[:8] + "… (log does not start here: give its earlier rotated files first, or allow a partial start)")
			case n == 0:
				return broken("first line does not continue the previous file (a file is missing between them, or the files are out of order)")
			default:
				return broken("previousEventHash does not match the previous line's eventHash (line missing, inserted or reordered)")
			}
		}
		if c.mac != nil {
			v.keyed = true
			if len(v.macs) == 0 {
				v.rep.MACUnchecked++
			} else if !c.macValid(v.macs) {
				return broken("eventHmac does not verify with the given keys (line forged, or the wrong master key)")
			} else {
				v.rep.MACVerified++
			}
		} else {
			if v.keyed {
				return broken("line has no eventHmac although earlier lines do (keyed chain downgraded: lines rewritten)")
			}
			v.rep.Unkeyed++
		}
		v.rep.LastReason = ""
		if bytes.Contains(line, []byte(`"checkpoint":{`)) {
			var cf checkpointFields
			if err := json.Unmarshal(line, &cf); err != nil {
				return broken("line is not a valid event")
			}
			if cp := cf.Checkpoint; cp != nil && cf.EventType == EventTypeCheckpoint {
				v.rep.Checkpoints++
				v.rep.LastReason = cp.Reason
				switch {
				case cp.Signature == "" && v.keyed:
					return broken("checkpoint is unsigned although earlier lines are keyed (downgraded)")
				case cp.Signature == "":
					v.rep.Unsigned++
				case len(v.pubs) == 0:
					v.keyed = true
					v.rep.Unverified++
				default:
					v.keyed = true
					if reason := verifyCheckpoint(cp, c.prev, cf.EventTime, v.pubs); reason != "" {
						return broken(reason)
					}
					v.rep.Signed++
					v.rep.SignedThrough = v.rep.Lines + 1
				}
			}
		}
		copy(v.expected[:], c.hash)
		v.started = true
		v.rep.Lines++
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
