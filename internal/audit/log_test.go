package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/redact"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

var fixedTime = time.Date(2026, 11, 27, 18, 5, 45, 123456789, time.FixedZone("CET", 3600))

// testEvent returns a typical KMS Decrypt event carrying tag as request id.
func testEvent(tag string) *Event {
	return &Event{
		EventSource:     "kms.amazonaws.com",
		EventName:       "Decrypt",
		AWSRegion:       "us-east-1",
		SourceIPAddress: "127.0.0.1",
		UserAgent:       "aws-sdk-go-v2/1.0",
		UserIdentity: UserIdentity{
			Type: IdentityIAMUser, PrincipalID: "AIDAEXAMPLE", ARN: "arn:aws:iam::111122223333:user/alice",
			AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE", UserName: "alice",
		},
		RequestParameters:  redact.Value(map[string]any{"KeyId": "alias/app", "Plaintext": "c2VjcmV0"}),
		RequestID:          tag,
		ReadOnly:           true,
		Resources:          []Resource{{ARN: "arn:aws:kms:us-east-1:111122223333:key/1234", Type: "AWS::KMS::Key"}},
		RecipientAccountID: "111122223333",
	}
}

// openTest opens a log in a fresh directory with a fixed clock.
func openTest(t testing.TB, opts Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	if opts.Clock == nil {
		opts.Clock = clock.NewFake(fixedTime)
	}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, path
}

// appendN appends n events tagged prefix-i and fails the test on error.
func appendN(t testing.TB, l *Log, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := l.Append(context.Background(), testEvent(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// readLines returns the log's lines without newlines.
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	return bytes.Split(b, []byte("\n"))
}

func mustVerify(t testing.TB, path string, want int) {
	t.Helper()
	n, err := VerifyFile(path)
	if err != nil || n != want {
		t.Fatalf("VerifyFile = %d, %v; want %d, nil", n, err, want)
	}
}

// TestLineFormat pins the documented hash definition and field encodings,
// computing the hash here independently of the package's code.
func TestLineFormat(t *testing.T) {
	t.Parallel()
	l, path := openTest(t, Options{Sync: true})
	e1, e2 := testEvent("r1"), testEvent("r2")
	for _, e := range []*Event{e1, e2} {
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	prev := ZeroHash
	for i, e := range []*Event{e1, e2} {
		line := lines[i]
		re := regexp.MustCompile(`,"previousEventHash":"([0-9a-f]{64})","eventHash":"([0-9a-f]{64})"}$`)
		m := re.FindSubmatch(line)
		if m == nil {
			t.Fatalf("line %d does not end with the chain members: %s", i+1, line)
		}
		canonical := append(bytes.Clone(bytes.TrimSuffix(line, []byte(`,"eventHash":"`+string(m[2])+`"}`))), '}')
		sum := sha256.Sum256(append([]byte(prev), canonical...))
		if got := hex.EncodeToString(sum[:]); got != string(m[2]) {
			t.Errorf("line %d eventHash = %s, want %s", i+1, m[2], got)
		}
		if string(m[1]) != prev || e.PreviousHash != prev || e.Hash != string(m[2]) {
			t.Errorf("line %d: event hashes (%s, %s) do not match line (%s, %s)", i+1, e.PreviousHash, e.Hash, m[1], m[2])
		}
		var generic map[string]any
		if err := json.Unmarshal(line, &generic); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]any{
			"eventVersion": "1.08", "eventTime": "2026-11-27T17:05:45Z", "eventType": "AwsApiCall",
			"eventName": "Decrypt", "readOnly": true,
		} {
			if generic[k] != want {
				t.Errorf("line %d %s = %v, want %v", i+1, k, generic[k], want)
			}
		}
		if id, _ := generic["eventID"].(string); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
			t.Errorf("eventID %q is not a UUID v4", id)
		}
		if got := generic["requestParameters"].(map[string]any)["Plaintext"]; got != redact.Hidden {
			t.Errorf("Plaintext logged as %v", got)
		}
		if _, ok := generic["errorCode"]; ok {
			t.Error("empty errorCode was written")
		}
		prev = string(m[2])
	}
	if l.LastHash() != prev {
		t.Errorf("LastHash = %s, want %s", l.LastHash(), prev)
	}
}

func TestChainContinuesAcrossReopen(t *testing.T) {
	t.Parallel()
	l, path := openTest(t, Options{Sync: true})
	appendN(t, l, "a", 3)
	head := l.LastHash()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{Sync: true, VerifyOnOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.LastHash() != head {
		t.Fatalf("reopened head %s, want %s", l.LastHash(), head)
	}
	e := testEvent("b")
	if err := l.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if e.PreviousHash != head {
		t.Errorf("first event after reopen chained to %s, want %s", e.PreviousHash, head)
	}
	appendN(t, l, "c", 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, path, 6)
}

func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	const goroutines, each = 64, 50
	l, path := openTest(t, Options{Sync: true})
	hashes := make(chan string, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := testEvent(fmt.Sprintf("g%d-%d", g, i))
				if err := l.Append(context.Background(), e); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				hashes <- e.Hash
			}
		})
	}
	wg.Wait()
	close(hashes)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, path, goroutines*each)

	seen := map[string]int{}
	lineHashes := map[string]bool{}
	for _, line := range readLines(t, path) {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		seen[e.RequestID]++
		lineHashes[e.Hash] = true
	}
	for g := range goroutines {
		for i := range each {
			if id := fmt.Sprintf("g%d-%d", g, i); seen[id] != 1 {
				t.Errorf("event %s appears %d times", id, seen[id])
			}
		}
	}
	for h := range hashes {
		if !lineHashes[h] {
			t.Errorf("Append reported hash %s that is not in the log", h)
		}
	}
}

// TestCloseDuringAppends: an Append racing with Close either fails with
// ErrClosed or its line is in the file, fsynced and chained.
func TestCloseDuringAppends(t *testing.T) {
	t.Parallel()
	l, path := openTest(t, Options{Sync: true, ReadSyncDelay: time.Hour})
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	started := make(chan struct{}, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := testEvent(fmt.Sprintf("g%d-%d", g, i))
				e.ReadOnly = i%2 == 0 // both kinds: delayed and waiting
				err := l.Append(context.Background(), e)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked[e.RequestID] = true
				mu.Unlock()
				if i == 10 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	lines := readLines(t, path)
	mustVerify(t, path, len(lines))
	inFile := map[string]bool{}
	for _, line := range lines {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		inFile[e.RequestID] = true
	}
	for id := range acked {
		if !inFile[id] {
			t.Errorf("Append of %s returned nil but its line is not in the file", id)
		}
	}
}

func TestOpenTornTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		complete int    // complete lines written before the tail
		tail     string // bytes after the last newline
	}{
		{name: "partial JSON after lines", complete: 3, tail: `{"eventVersion":"1.08","eventTi`},
		{name: "single byte", complete: 2, tail: `{`},
		{name: "zero-filled block", complete: 1, tail: "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{name: "only a torn line", complete: 0, tail: `{"eventVersion":"1.0`},
		{name: "clean end", complete: 2, tail: ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, path := openTest(t, Options{})
			appendN(t, l, "a", tt.complete)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(tt.tail)
			f.Close()

			var logbuf bytes.Buffer
			l, err = Open(path, Options{Logger: slog.New(slog.NewTextHandler(&logbuf, nil))})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := l.Truncated(); got != int64(len(tt.tail)) {
				t.Errorf("Truncated = %d, want %d", got, len(tt.tail))
			}
			if logged := strings.Contains(logbuf.String(), "torn"); logged != (tt.tail != "") {
				t.Errorf("torn line logged = %v, want %v (log: %q)", logged, tt.tail != "", logbuf.String())
			}
			appendN(t, l, "b", 2)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, path, tt.complete+2)
		})
	}
}

func TestOpenRefusesCorruption(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		line   int // 1-based line of 4 to modify
		verify bool
	}{
		{name: "modified last line", line: 4},
		{name: "modified middle line with VerifyOnOpen", line: 2, verify: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, path := openTest(t, Options{})
			appendN(t, l, "a", 4)
			l.Close()
			lines := readLines(t, path)
			lines[tt.line-1] = bytes.Replace(lines[tt.line-1], []byte("Decrypt"), []byte("Encrypt"), 1)
			data := append(bytes.Join(lines, []byte("\n")), '\n')
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if l, err := Open(path, Options{VerifyOnOpen: tt.verify}); err == nil {
				l.Close()
				t.Fatal("Open accepted a corrupt log")
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, data) {
				t.Error("refused Open modified the file")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing", "audit.log"), Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	path := filepath.Join(dir, "audit.log")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("log created with mode %v, want 0600", st.Mode().Perm())
	}
	if l2, err := Open(path, Options{}); err == nil {
		l2.Close()
		t.Error("second Open of a log in use succeeded")
	}
	l.Close()
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l.Close()
}

func TestCloseAndMisuse(t *testing.T) {
	t.Parallel()
	l, _ := openTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Append(ctx, testEvent("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with canceled context = %v", err)
	}
	if err := l.Append(context.Background(), nil); err == nil {
		t.Error("Append(nil) succeeded")
	}
	if err := l.Healthy(); err != nil {
		t.Errorf("caller errors made the log unhealthy: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := l.Append(context.Background(), testEvent("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Healthy(); !errors.Is(err, ErrClosed) {
		t.Errorf("Healthy after Close = %v, want ErrClosed", err)
	}
}

// faultyFile injects failures between the Log and its file.
type faultyFile struct {
	*os.File
	writeErr, syncErr atomic.Pointer[error]
	partial           atomic.Bool // write half the batch before failing
	writes, syncs     atomic.Int64
}

func (f *faultyFile) Write(b []byte) (int, error) {
	f.writes.Add(1)
	if p := f.writeErr.Load(); p != nil {
		n := 0
		if f.partial.Load() {
			n, _ = f.File.Write(b[:len(b)/2])
		}
		return n, *p
	}
	return f.File.Write(b)
}

func (f *faultyFile) Sync() error {
	f.syncs.Add(1)
	if p := f.syncErr.Load(); p != nil {
		return *p
	}
	return f.File.Sync()
}

func TestWriteFailureFailsClosed(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("no space left on device")
	tests := []struct {
		name   string
		inject func(f *faultyFile)
	}{
		{name: "write error", inject: func(f *faultyFile) { f.writeErr.Store(&errDisk) }},
		{name: "partial write", inject: func(f *faultyFile) { f.partial.Store(true); f.writeErr.Store(&errDisk) }},
		{name: "fsync error", inject: func(f *faultyFile) { f.syncErr.Store(&errDisk) }},
		{name: "underlying file closed", inject: func(f *faultyFile) { f.File.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			var ff *faultyFile
			var onErr []error
			var mu sync.Mutex
			l, err := openWith(path, Options{Sync: true, OnError: func(err error) {
				mu.Lock()
				defer mu.Unlock()
				onErr = append(onErr, err)
			}}, func(f *os.File) file {
				ff = &faultyFile{File: f}
				return ff
			})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, "ok", 3)
			tt.inject(ff)

			err = l.Append(context.Background(), testEvent("fails"))
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after fault = %v, want ErrFailed", err)
			}
			if err := l.Healthy(); !errors.Is(err, ErrFailed) {
				t.Errorf("Healthy = %v, want ErrFailed", err)
			}
			writes := ff.writes.Load()
			if err := l.Append(context.Background(), testEvent("fast")); !errors.Is(err, ErrFailed) {
				t.Errorf("later Append = %v, want ErrFailed", err)
			}
			if ff.writes.Load() != writes {
				t.Error("a failed log still tried to write")
			}
			mu.Lock()
			if len(onErr) != 1 {
				t.Errorf("OnError called %d times, want 1", len(onErr))
			}
			mu.Unlock()
			l.Close()

			// Reopened without the fault, the chain goes on from the last
			// line that made it to disk.
			l, err = Open(path, Options{Sync: true})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			appendN(t, l, "after", 2)
			l.Close()
			n, err := VerifyFile(path)
			if err != nil || n < 5 {
				t.Errorf("VerifyFile after reopen = %d, %v", n, err)
			}
		})
	}
}

// openFaulty opens a log whose file is wrapped by a fault injector.
func openFaulty(t *testing.T, opts Options) (*Log, *faultyFile, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	var ff *faultyFile
	l, err := openWith(path, opts, func(f *os.File) file {
		ff = &faultyFile{File: f}
		return ff
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, ff, path
}

// TestReadSyncDelay: with ReadSyncDelay, read-only events are written
// before Append returns but fsynced later; every other event still waits
// for an fsync, which covers the reads before it.
func TestReadSyncDelay(t *testing.T) {
	t.Parallel()
	mutation := func(tag string) *Event { e := testEvent(tag); e.ReadOnly = false; return e }
	tests := []struct {
		name      string
		delay     time.Duration
		event     func(string) *Event
		wantSyncs int64 // fsyncs made by the Append itself
	}{
		{name: "read, delayed", delay: time.Hour, event: testEvent, wantSyncs: 0},
		{name: "mutation, delayed reads", delay: time.Hour, event: mutation, wantSyncs: 1},
		{name: "read, no delay", delay: 0, event: testEvent, wantSyncs: 1},
		{name: "mutation, no delay", delay: 0, event: mutation, wantSyncs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, ff, path := openFaulty(t, Options{Sync: true, ReadSyncDelay: tt.delay})
			defer l.Close()
			before := ff.syncs.Load()
			if err := l.Append(context.Background(), tt.event("x")); err != nil {
				t.Fatal(err)
			}
			if got := ff.syncs.Load() - before; got != tt.wantSyncs {
				t.Errorf("Append made %d fsyncs, want %d", got, tt.wantSyncs)
			}
			// Written either way: in the file, for any reader, at once.
			if lines := readLines(t, path); len(lines) != 1 {
				t.Errorf("%d lines in the file after Append, want 1", len(lines))
			}
		})
	}
	t.Run("close fsyncs delayed reads", func(t *testing.T) {
		t.Parallel()
		l, ff, path := openFaulty(t, Options{Sync: true, ReadSyncDelay: time.Hour})
		appendN(t, l, "r", 3)
		if n := ff.syncs.Load(); n != 0 {
			t.Fatalf("%d fsyncs before Close", n)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if n := ff.syncs.Load(); n != 1 {
			t.Errorf("Close made %d fsyncs, want 1", n)
		}
		mustVerify(t, path, 3)
	})
	t.Run("background fsync", func(t *testing.T) {
		t.Parallel()
		l, ff, _ := openFaulty(t, Options{Sync: true, ReadSyncDelay: time.Millisecond})
		defer l.Close()
		appendN(t, l, "r", 1)
		testwait.For(t, 0, "the background fsync", func() bool { return ff.syncs.Load() >= 1 })
	})
}

// TestReadSyncDelayFailsClosed: a read-only event whose write fails fails
// its Append, and a failed background fsync fails the log for every later
// call.
func TestReadSyncDelayFailsClosed(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("no space left on device")
	t.Run("write", func(t *testing.T) {
		t.Parallel()
		l, ff, _ := openFaulty(t, Options{Sync: true, ReadSyncDelay: time.Hour})
		defer l.Close()
		ff.writeErr.Store(&errDisk)
		if err := l.Append(context.Background(), testEvent("r")); !errors.Is(err, ErrFailed) {
			t.Fatalf("Append of a read whose write failed = %v, want ErrFailed", err)
		}
	})
	t.Run("background fsync", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		path := filepath.Join(t.TempDir(), "audit.log")
		var ff *faultyFile
		l, err := openWith(path, Options{Sync: true, ReadSyncDelay: time.Millisecond, OnError: func(error) { calls.Add(1) }},
			func(f *os.File) file { ff = &faultyFile{File: f}; return ff })
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ff.syncErr.Store(&errDisk)
		appendN(t, l, "r", 1) // written; its fsync fails later
		testwait.For(t, 0, "the log to fail", func() bool { return l.Healthy() != nil })
		if err := l.Healthy(); !errors.Is(err, ErrFailed) {
			t.Fatalf("Healthy = %v, want ErrFailed", err)
		}
		if err := l.Append(context.Background(), testEvent("next")); !errors.Is(err, ErrFailed) {
			t.Errorf("Append after the failed fsync = %v, want ErrFailed", err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("OnError called %d times, want 1", n)
		}
	})
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	l, path := openTest(t, Options{})
	appendN(t, l, "a", 5)
	l.Close()
	orig := readLines(t, path)

	edit := func(f func(lines [][]byte) [][]byte) []byte {
		lines := make([][]byte, len(orig))
		for i := range orig {
			lines[i] = bytes.Clone(orig[i])
		}
		return append(bytes.Join(f(lines), []byte("\n")), '\n')
	}
	tests := []struct {
		name     string
		data     []byte
		wantLine int // 0: valid
		wantN    int
	}{
		{name: "untouched", data: edit(func(l [][]byte) [][]byte { return l }), wantN: 5},
		{name: "empty log", data: nil, wantN: 0},
		{name: "modified field in line 3", data: edit(func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"readOnly":true`), []byte(`"readOnly":false`), 1)
			return l
		}), wantLine: 3, wantN: 2},
		{name: "modified last line", data: edit(func(l [][]byte) [][]byte {
			l[4] = bytes.Replace(l[4], []byte("alice"), []byte("mallo"), 1)
			return l
		}), wantLine: 5, wantN: 4},
		{name: "modified previousEventHash of line 2", data: edit(func(l [][]byte) [][]byte {
			i := bytes.Index(l[1], []byte(`"previousEventHash":"`)) + len(`"previousEventHash":"`)
			l[1][i] ^= 1
			return l
		}), wantLine: 2, wantN: 1},
		{name: "deleted line 3", data: edit(func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) }), wantLine: 3, wantN: 2},
		{name: "deleted first line", data: edit(func(l [][]byte) [][]byte { return l[1:] }), wantLine: 1, wantN: 0},
		{name: "swapped lines 2 and 3", data: edit(func(l [][]byte) [][]byte { l[1], l[2] = l[2], l[1]; return l }), wantLine: 2, wantN: 1},
		{name: "duplicated line 4", data: edit(func(l [][]byte) [][]byte { return append(l[:4], l[3:]...) }), wantLine: 5, wantN: 4},
		{name: "blank line", data: edit(func(l [][]byte) [][]byte { return append(l[:2], append([][]byte{{}}, l[2:]...)...) }), wantLine: 3, wantN: 2},
		{name: "uppercase hash", data: edit(func(l [][]byte) [][]byte {
			l[0] = append(l[0][:len(l[0])-2-hashLen], append(bytes.ToUpper(l[0][len(l[0])-2-hashLen:len(l[0])-2]), `"}`...)...)
			return l
		}), wantLine: 1, wantN: 0},
		{name: "torn final line", data: edit(func(l [][]byte) [][]byte { return l })[:len(edit(func(l [][]byte) [][]byte { return l }))-40], wantLine: 5, wantN: 4},
		{name: "not JSON", data: []byte("hello world\n"), wantLine: 1, wantN: 0},
		{name: "overlong line", data: append(bytes.Repeat([]byte("x"), MaxLineBytes+10), '\n'), wantLine: 1, wantN: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := Verify(bytes.NewReader(tt.data))
			if n != tt.wantN {
				t.Errorf("Verify n = %d, want %d", n, tt.wantN)
			}
			if tt.wantLine == 0 {
				if err != nil {
					t.Errorf("Verify = %v, want nil", err)
				}
				return
			}
			var be *BrokenError
			if !errors.As(err, &be) || be.Line != tt.wantLine {
				t.Errorf("Verify error = %v, want BrokenError at line %d", err, tt.wantLine)
			}
		})
	}
}

func TestVerifyLongLines(t *testing.T) {
	t.Parallel()
	// Lines longer than the verifier's read buffer must still verify.
	l, path := openTest(t, Options{})
	for i := range 3 {
		e := testEvent(fmt.Sprint(i))
		e.ResponseElements = map[string]any{"Policy": strings.Repeat("p", 200<<10)}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	mustVerify(t, path, 3)
}

// BenchmarkAppendParallel measures fsynced appends from many goroutines,
// which group commit turns into a few large writes.
func BenchmarkAppendParallel(b *testing.B) {
	l, _ := openTest(b, Options{Sync: true})
	defer l.Close()
	b.SetParallelism(32) // many concurrent requests per core, as in the server
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), testEvent("bench")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// countLines counts newline-separated lines the way Verify does, for the
// fuzz target's invariant.
func countLines(b []byte) int {
	n := 0
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(nil, 2*MaxLineBytes)
	for s.Scan() {
		n++
	}
	return n
}
