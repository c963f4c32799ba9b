package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

func testKeys(t testing.TB, seed byte) *Keys {
	t.Helper()
	k, err := DeriveKeys(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKeyedLog writes n events to a keyed log and closes it.
func writeKeyedLog(t *testing.T, k *Keys, n int) string {
	t.Helper()
	l, path := openTest(t, Options{Keys: k, CheckpointInterval: -1})
	appendN(t, l, "e", n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// rechain rewrites lines with edit applied to each, then recomputes every
// eventHash from the first line on, as an attacker without the key can.
func rechain(t *testing.T, lines [][]byte, edit func(i int, line []byte) []byte) [][]byte {
	t.Helper()
	var out [][]byte
	prev := []byte(ZeroHash)
	for i, line := range lines {
		line = edit(i, append([]byte(nil), line...))
		if line == nil {
			continue
		}
		c, reason := parseLine(line)
		if reason != "" {
			t.Fatalf("line %d: %s", i+1, reason)
		}
		body := append([]byte(nil), c.body...)
		// Replace previousEventHash in the body.
		idx := bytes.LastIndex(body, []byte(`"previousEventHash":"`)) + len(`"previousEventHash":"`)
		copy(body[idx:idx+hashLen], prev)
		var h [hashLen]byte
		sumLine(sha256.New(), &h, prev, body)
		nl := append(append(append(body, hashMember...), h[:]...), '"', '}')
		out = append(out, nl)
		prev = h[:]
	}
	return out
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// stripMAC removes the eventHmac member of a keyed line.
func stripMAC(line []byte) []byte {
	i := bytes.Index(line, []byte(macMember))
	if i < 0 {
		return line
	}
	return append(line[:i:i], line[i+macLen:]...)
}

// TestForgeryDetectedWithKeys is the attack class "rewrite the log and
// recompute the unkeyed chain": each forgery passes the unkeyed check, and
// each is caught with the master key's keys and with the public key alone.
func TestForgeryDetectedWithKeys(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	path := writeKeyedLog(t, k, 6)
	lines := readLines(t, path)
	// start checkpoint, 6 events, close checkpoint
	// Stripping the eventHmacs after a signed line is caught even without
	// a key.
	stripped := filepath.Join(t.TempDir(), "stripped.log")
	writeLines(t, stripped, rechain(t, lines, func(_ int, l []byte) []byte { return stripMAC(l) }))
	var downgraded *BrokenError
	if _, err := VerifyFile(stripped); !errors.As(err, &downgraded) || downgraded.Line != 2 || !strings.Contains(downgraded.Reason, "downgraded") {
		t.Errorf("eventHmacs stripped: %v", err)
	}
	if len(lines) != 8 || !bytes.Contains(lines[0], []byte(`"reason":"start"`)) || !bytes.Contains(lines[7], []byte(`"reason":"close"`)) {
		t.Fatalf("unexpected log layout:\n%s", bytes.Join(lines, []byte("\n")))
	}
	if rep, err := VerifyFiles([]string{path}, VerifyOptions{Keys: []*Keys{k}}); err != nil || rep.MACVerified != 8 || rep.Signed != 2 || rep.UnsignedTail() != 0 || rep.LastReason != CheckpointClose {
		t.Fatalf("genuine log: %+v, %v", rep, err)
	}
	cases := []struct {
		name string
		edit func(i int, line []byte) []byte
		// The line each verifier reports (0: passes).
		withMAC, withPublic int
	}{
		{"change an event, keep its eventHmac", func(i int, l []byte) []byte {
			if i == 3 {
				return bytes.Replace(l, []byte("alice"), []byte("mallo"), 1)
			}
			return l
		}, 4, 8},
		{"delete an event", func(i int, l []byte) []byte {
			if i == 2 {
				return nil
			}
			return l
		}, 3, 7},
		{"drop the checkpoints and eventHmacs (pass off as a legacy log)", func(i int, l []byte) []byte {
			if bytes.Contains(l, []byte(`"checkpoint":{`)) {
				return nil
			}
			return stripMAC(l)
		}, -1, -1},
		{"change the signed checkpoint's reason", func(i int, l []byte) []byte {
			if i == 7 {
				return bytes.Replace(l, []byte(`"reason":"close"`), []byte(`"reason":"other"`), 1)
			}
			return l
		}, 8, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forged := filepath.Join(t.TempDir(), "forged.log")
			writeLines(t, forged, rechain(t, lines, c.edit))
			if _, err := VerifyFile(forged); err != nil {
				t.Fatalf("the forgery does not even pass the unkeyed check, so it tests nothing: %v", err)
			}
			for _, v := range []struct {
				name string
				opts VerifyOptions
				want int
			}{
				{"master key", VerifyOptions{Keys: []*Keys{k}}, c.withMAC},
				{"public key", VerifyOptions{PublicKeys: []ed25519.PublicKey{k.PublicKey()}}, c.withPublic},
			} {
				rep, err := VerifyFiles([]string{forged}, v.opts)
				var broken *BrokenError
				switch {
				case v.want == -1:
					// Passes every check, but nothing in it is
					// authenticated: what the CLI refuses with a key.
					if err != nil || rep.Unkeyed != rep.Lines || rep.Signed != 0 || rep.MACVerified != 0 {
						t.Errorf("%s: %+v, %v: want an all-unkeyed report", v.name, rep, err)
					}
				case v.want == 0:
					if err != nil {
						t.Errorf("%s: %v", v.name, err)
					}
				case !errors.As(err, &broken) || broken.Line != v.want:
					t.Errorf("%s: err = %v, want broken at line %d", v.name, err, v.want)
				}
			}
		})
	}
}

// TestTailTruncationIsNotDetectedButReported documents the limit: lines
// cut off the end leave a valid prefix; what the verifier can say is that
// the log does not end with a close checkpoint.
func TestTailTruncationIsNotDetectedButReported(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 2)
	path := writeKeyedLog(t, k, 4)
	lines := readLines(t, path)
	writeLines(t, path, lines[:len(lines)-2])
	rep, err := VerifyFiles([]string{path}, VerifyOptions{Keys: []*Keys{k}})
	if err != nil {
		t.Fatalf("a truncated log is a valid prefix: %v", err)
	}
	if rep.LastReason == CheckpointClose || rep.UnsignedTail() != len(lines)-2-1 {
		t.Errorf("report does not show the unsigned tail and missing close: %+v", rep)
	}
}

func TestOpenWithKeys(t *testing.T) {
	t.Parallel()
	k1, k2 := testKeys(t, 3), testKeys(t, 4)
	path := writeKeyedLog(t, k1, 2)
	if _, err := Open(path, Options{Keys: k2}); err == nil || !strings.Contains(err.Error(), "eventHmac does not verify") {
		t.Fatalf("Open with another master key: %v", err)
	}
	// After a master key rotation the old key is given as previous.
	l, err := Open(path, Options{Keys: k2, PreviousKeys: []*Keys{k1}, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "after", 1)
	l.Close()
	if _, err := VerifyFiles([]string{path}, VerifyOptions{Keys: []*Keys{k1}}); err == nil {
		t.Error("lines keyed with the new key verified with the old one alone")
	}
	if rep, err := VerifyFiles([]string{path}, VerifyOptions{Keys: []*Keys{k2, k1}}); err != nil || rep.Unkeyed != 0 {
		t.Errorf("both keys: %+v, %v", rep, err)
	}
	// An unkeyed (legacy) log continues keyed, its prefix reported.
	legacy, lpath := openTest(t, Options{})
	appendN(t, legacy, "old", 3)
	legacy.Close()
	l, err = Open(lpath, Options{Keys: k1, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "new", 2)
	l.Close()
	rep, err := VerifyFiles([]string{lpath}, VerifyOptions{Keys: []*Keys{k1}})
	if err != nil || rep.Unkeyed != 3 || rep.MACVerified != 4 {
		t.Errorf("upgraded log: %+v, %v", rep, err)
	}
}

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 5)
	p, err := MarshalPublicKeyPEM(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublicKeyPEM(p)
	if err != nil || len(got) != 1 || !got[0].Equal(k.PublicKey()) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := ParsePublicKeyPEM([]byte("junk")); err == nil {
		t.Error("junk parsed")
	}
}

// rotatedFiles returns the rotated files of path in rotation order, then
// path.
func rotatedFiles(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return append(m, path)
}

func TestRotationContinuesTheChain(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 6)
	fc := clock.NewFake(fixedTime) // no timer is armed: rotation is by size
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := Open(path, Options{Keys: k, CheckpointInterval: -1, RotateBytes: 3000, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		appendN(t, l, "r", 1)
		if i%3 == 2 {
			fc.Add(time.Second) // distinct names are not required, only order
		}
	}
	l.Close()
	files := rotatedFiles(t, path)
	if len(files) < 4 {
		t.Fatalf("only %d files after rotation by size", len(files))
	}
	rep, err := VerifyFiles(files, VerifyOptions{Keys: []*Keys{k}})
	if err != nil || rep.LastReason != CheckpointClose {
		t.Fatalf("rotated set: %+v, %v", rep, err)
	}
	// The log reopened after rotation goes on with the same chain.
	l, err = Open(path, Options{Keys: k, CheckpointInterval: -1, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "after", 1)
	l.Close()
	if _, err := VerifyFiles(files, VerifyOptions{Keys: []*Keys{k}}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	cases := []struct {
		name  string
		files []string
		want  string
	}{
		{"missing middle file", append(append([]string{}, files[:1]...), files[2:]...), files[2]},
		{"out of order", append([]string{files[1], files[0]}, files[2:]...), files[1]},
		{"missing first file", files[1:], files[1]},
	}
	for _, c := range cases {
		_, err := VerifyFiles(c.files, VerifyOptions{Keys: []*Keys{k}})
		var broken *BrokenError
		if !errors.As(err, &broken) || broken.File != c.want || broken.Line != 1 {
			t.Errorf("%s: %v, want broken at line 1 of %s", c.name, err, c.want)
		}
	}
	if _, err := VerifyFiles(files[1:], VerifyOptions{Keys: []*Keys{k}, AllowPartialStart: true}); err != nil {
		t.Errorf("partial start allowed: %v", err)
	}
}

// TestIdleRotationByTime: an idle log still rotates when RotateInterval
// passes, on the writer's own timer (no Append needed).
func TestIdleRotationByTime(t *testing.T) {
	t.Parallel()
	fc := clock.NewFake(fixedTime)
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{RotateInterval: time.Hour, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, "a", 2)
	if !fc.BlockUntil(context.Background(), 1) {
		t.Fatal("the writer armed no timer")
	}
	fc.Add(59 * time.Minute)
	appendN(t, l, "b", 1) // a round trip through the writer
	if files := rotatedFiles(t, path); len(files) != 1 {
		t.Fatalf("rotated before RotateInterval: %v", files)
	}
	fc.Add(time.Minute)
	testwait.For(t, 0, "rotation of the idle log", func() bool { return len(rotatedFiles(t, path)) == 2 })
}

func TestRotationByTime(t *testing.T) {
	t.Parallel()
	var clk testClock
	clk.set(fixedTime)
	path := filepath.Join(t.TempDir(), "audit.log")
	// The time jumps but the writer's timers never fire (their fake clock
	// stands still): the rotation this test sees is the one Append makes.
	l, err := Open(path, Options{RotateInterval: time.Hour, Clock: clock.WithNow(clock.NewFake(fixedTime), clk.now)})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "a", 2)
	clk.set(fixedTime.Add(2 * time.Hour))
	appendN(t, l, "b", 1) // written, then the file is rotated
	appendN(t, l, "c", 1)
	l.Close()
	files := rotatedFiles(t, path)
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	rep, err := VerifyFiles(files, VerifyOptions{})
	// Unkeyed: the new file starts with an unsigned start checkpoint.
	if err != nil || rep.Files[0] != 3 || rep.Files[1] != 2 || rep.Unsigned != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
}

// TestReopenAfterExternalRotation is logrotate's rename-then-signal.
func TestReopenAfterExternalRotation(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 7)
	l, path := openTest(t, Options{Keys: k, CheckpointInterval: -1})
	appendN(t, l, "a", 2)
	if err := l.Reopen(); err != nil {
		t.Fatalf("Reopen without rotation: %v", err)
	}
	if _, err := os.Stat(path + ".1"); err == nil {
		t.Fatal("unexpected file")
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "b", 1) // still into the renamed file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "c", 2)
	l.Close()
	rep, err := VerifyFiles([]string{path + ".1", path}, VerifyOptions{Keys: []*Keys{k}})
	if err != nil {
		t.Fatal(err)
	}
	// .1: start, a, a, b, rotate; new: start, c, c, close.
	if len(rep.Files) != 2 || rep.Files[0] != 5 || rep.Files[1] != 4 {
		t.Errorf("files: %v", rep.Files)
	}
	// A file of another chain at the path is refused.
	l, path = openTest(t, Options{Keys: k, CheckpointInterval: -1})
	other := filepath.Join(filepath.Dir(path), "other.log")
	o, err := Open(other, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, o, "x", 1)
	o.Close()
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Error("Reopen continued into a file of another chain")
	}
	appendN(t, l, "still", 1)
	l.Close()
	if _, err := VerifyFiles([]string{path + ".old"}, VerifyOptions{Keys: []*Keys{k}}); err != nil {
		t.Errorf("the log went on in the old file: %v", err)
	}
}

func TestCheckpointIntervalAndAppendRefusesCheckpoints(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 8)
	fc := clock.NewFake(fixedTime)
	l, path := openTest(t, Options{Keys: k, CheckpointInterval: time.Minute, Clock: fc})
	appendN(t, l, "a", 1)
	interval := func() bool { return bytes.Contains(bytes.Join(readLines(t, path), nil), []byte(`"reason":"interval"`)) }
	// The clock has not moved, so no timer can have fired: this can fail
	// (a checkpoint written on another schedule would show here).
	fc.Add(59 * time.Second)
	if err := l.Append(context.Background(), &Event{EventName: "sync"}); err != nil {
		t.Fatal(err)
	}
	if interval() {
		t.Fatal("an interval checkpoint before the interval passed")
	}
	fc.Add(time.Second)
	testwait.For(t, 0, "the interval checkpoint", interval)
	if err := l.Append(context.Background(), &Event{EventType: EventTypeCheckpoint}); err == nil {
		t.Error("a caller wrote a checkpoint line")
	}
	if err := l.Append(context.Background(), &Event{Checkpoint: &Checkpoint{Reason: "close"}}); err == nil {
		t.Error("a caller wrote a checkpoint member")
	}
	l.Close()
}

// testClock is a settable clock safe to read from the writer goroutine.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
func (c *testClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
