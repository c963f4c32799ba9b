package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/ids"
)

// ErrClosed is returned by Append and Healthy after Close.
var ErrClosed = errors.New("audit: log closed")

// ErrFailed is wrapped by every error Append and Healthy return once a write
// to the log has failed; the log stays failed until it is reopened.
var ErrFailed = errors.New("audit: log failed")

// maxKeptBuffer bounds the line buffer a Log keeps between appends, so one
// huge event does not pin its memory.
const maxKeptBuffer = 64 << 10

// Options configures a Log. The zero value is usable: no fsync, the system
// clock, crypto/rand, no error callback, no logging.
type Options struct {
	// Sync makes Append return only after the line is fsynced (but see
	// ReadSyncDelay). False means a crash (of the machine, not the process)
	// can lose events whose Append returned; the server turns it on. Group
	// commit keeps it cheap: one fsync covers every line written before it.
	Sync bool
	// ReadSyncDelay, with Sync, lets Append return for an event marked
	// ReadOnly once its line is written to the file, without waiting for
	// its fsync; the line is fsynced in the background at most this long
	// later, or earlier with the next event that is not ReadOnly (an fsync
	// covers every line before it). The line is in the operating system
	// when Append returns, so a crash or kill of the process loses nothing;
	// a crash of the machine (power loss, kernel panic) can lose the
	// read-only events of at most the last ReadSyncDelay. A write that
	// fails still fails the Append and the log. 0 means read-only events
	// wait for their fsync like every other.
	ReadSyncDelay time.Duration
	// Clock supplies EventTime for events that have none and the age of
	// the file for RotateInterval, and makes the writer's timer for
	// interval checkpoints and time-based rotation; nil means the real
	// clock.
	Clock clock.Clock
	// Rand supplies the randomness of generated EventIDs and must be safe
	// for concurrent use; nil means crypto/rand.
	Rand io.Reader
	// OnError is called once, with the error that put the log into the
	// failed state, from the goroutine whose write or fsync failed while it
	// holds the log's lock: it must not block or call the Log.
	OnError func(error)
	// Logger receives a warning when Open truncates a torn final line; nil
	// means no logging.
	Logger *slog.Logger
	// VerifyOnOpen makes Open verify the whole chain (reading the whole
	// file) and refuse a broken log. False means only the last complete line
	// is checked, which keeps start-up time independent of the log's size.
	VerifyOnOpen bool

	// Keys, when set, key the chain (every line carries an eventHmac) and
	// make the log write signed checkpoint lines: when it is opened, every
	// CheckpointInterval while lines were added, when a file is rotated and
	// when it is closed. Nil writes the unkeyed chain of earlier versions,
	// which anyone able to write the file can rewrite undetectably.
	Keys *Keys
	// PreviousKeys are keys of retired master keys: Open accepts a last
	// line keyed with one of them (the log then goes on with Keys).
	PreviousKeys []*Keys
	// CheckpointInterval is how often a signed checkpoint is written while
	// lines are being added; 0 means DefaultCheckpointInterval, negative
	// means only at open, rotation and close. Ignored without Keys.
	CheckpointInterval time.Duration
	// RotateBytes, when positive, rotates the file once it reaches this
	// size: it is renamed PATH.<UTC time> and a new PATH continues the
	// chain. 0 means no size-based rotation.
	RotateBytes int64
	// RotateInterval, when positive, rotates the file once it has been
	// open this long (by Now). 0 means no time-based rotation.
	RotateInterval time.Duration
}

// DefaultCheckpointInterval is how often a keyed log signs its chain head
// while lines are being added: at most this much of a running log's tail is
// covered only by eventHmac, not yet by a signature.
const DefaultCheckpointInterval = time.Minute

// allKeys returns Keys and PreviousKeys.
func (o *Options) allKeys() []*Keys {
	var out []*Keys
	if o.Keys != nil {
		out = append(out, o.Keys)
	}
	return append(out, o.PreviousKeys...)
}

// macs returns the HMAC hashers of every key a line may be keyed with.
func (o *Options) macs() []hash.Hash {
	var out []hash.Hash
	if o.Keys != nil {
		out = append(out, newMAC(o.Keys.MAC))
	}
	for _, k := range o.PreviousKeys {
		out = append(out, newMAC(k.MAC))
	}
	return out
}

// file is what the Log writes to: an *os.File, or a fault injector in tests.
type file interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

// Log is an open audit log. Its methods are safe for concurrent use.
//
// Appends chain and write their line themselves, under one mutex, in the
// caller's goroutine: no hand-off to a writer goroutine, whose wake-ups
// cost more than the write on small machines. Only fsync is shared (group
// commit): the first caller that needs one takes syncMu and fsyncs every
// line written so far; the callers queued behind it find their lines
// already covered and return.
type Log struct {
	opts      Options
	now       func() time.Time
	rand      io.Reader
	path      string
	truncated int64
	wrap      func(*os.File) file

	failure atomic.Pointer[error] // set once, by the first failed write or fsync
	closed  atomic.Bool           // set by Close, under syncMu and mu
	// synced is how many lines (counted by written) are known to be on
	// disk.
	synced atomic.Uint64

	// syncMu is held by whoever fsyncs, checkpoints or replaces the file,
	// so an fsync never races with a rotation or Close closing the file.
	// Lock order: syncMu, then mu.
	syncMu sync.Mutex

	// mu guards the file and the chain: every line is chained and written
	// under it.
	mu       sync.Mutex
	f        file
	prev     [hashLen]byte // eventHash of the last line written
	hasher   hash.Hash
	mac      hash.Hash // nil for an unkeyed log
	buf      []byte
	size     int64     // of the current file
	opened   time.Time // when the current file was opened, by now
	unsigned int       // lines since the last checkpoint
	written  uint64    // lines written to the operating system, all files
	// syncScheduled is set while a background fsync (ReadSyncDelay) is
	// pending.
	syncScheduled bool
	// retryRotate is when a failed rotation may be tried again.
	retryRotate time.Time

	stopTick chan struct{} // closed by Close to stop the timer goroutine
	tickDone chan struct{} // closed when the timer goroutine exits
}

// Open opens the append-only log at path, creating it (mode 0600) if needed,
// and resumes the chain from its last complete line. A torn final line is
// truncated away (see the package documentation); a corrupt last complete
// line, or with VerifyOnOpen any broken line, makes Open fail.
func Open(path string, opts Options) (*Log, error) {
	return openWith(path, opts, nil)
}

// openWith is Open with a hook that lets tests inject faults between the Log
// and its files; nil wrap means the file itself.
func openWith(path string, opts Options, wrap func(*os.File) file) (*Log, error) {
	f, last, size, truncated, err := openFile(path, opts)
	if err != nil {
		return nil, err
	}
	l := newLog(path, wrapFile(f, wrap), last, size, truncated, opts)
	l.wrap = wrap
	if every := l.tickEvery(); every > 0 {
		// Armed before Open returns, so the interval counts from Open
		// (tests on a fake clock rely on it).
		go l.tickLoop(l.opts.Clock.NewTicker(every))
	} else {
		close(l.tickDone)
	}
	if opts.Keys != nil {
		// Signs whatever the file holds, including lines a crash left
		// after the last checkpoint, and marks the restart.
		if err := l.Checkpoint(context.Background(), CheckpointStart); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

func wrapFile(f *os.File, wrap func(*os.File) file) file {
	if wrap != nil {
		return wrap(f)
	}
	return f
}

// newLog prepares the state for f whose chain head is last; the caller
// starts the timer goroutine (or closes tickDone).
func newLog(path string, f file, last string, size, truncated int64, opts Options) *Log {
	l := &Log{
		opts:      opts,
		rand:      opts.Rand,
		path:      path,
		f:         f,
		size:      size,
		truncated: truncated,
		hasher:    sha256.New(),
		stopTick:  make(chan struct{}),
		tickDone:  make(chan struct{}),
	}
	l.opts.Clock = clock.OrReal(opts.Clock)
	l.now = l.opts.Clock.Now
	if l.rand == nil {
		l.rand = rand.Reader
	}
	if opts.Keys != nil {
		l.mac = newMAC(opts.Keys.MAC)
	}
	l.opened = l.now()
	copy(l.prev[:], last)
	return l
}

// Append completes e's defaults (EventVersion, EventType, EventID,
// EventTime), writes it as one line chained to the previous one, and sets
// e.PreviousHash and e.Hash. It returns once the line is written, and
// fsynced with Options.Sync.
//
// An error wrapping ErrFailed means the log is broken and every later Append
// will fail too: the caller must refuse the request it was recording. An
// event is never refused for its size or contents: oversized strings and
// trees are shortened and marked (see MaxFieldBytes and ElidedKey), and a
// value that cannot be serialised is replaced by a marker. If ctx ends first Append returns ctx.Err(); the event may
// or may not have been written.
func (l *Log) Append(ctx context.Context, e *Event) error {
	if e == nil {
		return errors.New("audit: nil event")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.Healthy(); err != nil {
		return err
	}
	if e.EventType == EventTypeCheckpoint || e.Checkpoint != nil {
		return errors.New("audit: checkpoint lines are written by the log itself")
	}
	if err := l.fillDefaults(e); err != nil {
		return err
	}
	pre := bound(e)
	lb := linePool.Get().(*[]byte)
	defer putLine(lb)
	line, err := appendLine((*lb)[:0], e, pre)
	if errors.Is(err, errTooLarge) {
		boundHard(e)
		line, err = appendLine((*lb)[:0], e, nil)
	}
	if err != nil {
		return err
	}
	*lb = line
	var hashes [2][hashLen]byte
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return ErrClosed
	}
	if p := l.failure.Load(); p != nil {
		l.mu.Unlock()
		return *p
	}
	prev := l.prev
	buf := l.linkLine(l.buf[:0], line, &prev, &hashes)
	err = l.writeLocked(buf, prev)
	if cap(buf) <= maxKeptBuffer {
		l.buf = buf[:0]
	}
	seq := l.written
	rotate := err == nil && l.rotateDueLocked()
	lazy := l.opts.Sync && e.ReadOnly && l.opts.ReadSyncDelay > 0
	schedule := err == nil && lazy && !l.syncScheduled
	if schedule {
		l.syncScheduled = true
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	e.PreviousHash = string(hashes[0][:])
	e.Hash = string(hashes[1][:])
	e.MAC = "" // not kept per request; it is in the line
	if rotate {
		// A rotation fsyncs the old file: this line too.
		l.rotateIfDue()
	}
	switch {
	case !l.opts.Sync:
		return nil
	case lazy:
		if schedule {
			time.AfterFunc(l.opts.ReadSyncDelay, l.backgroundSync)
		}
		return nil
	}
	return l.syncTo(ctx, seq)
}

// syncTo returns once the first seq lines written are on disk, fsyncing
// them itself unless another caller's fsync already covered them.
func (l *Log) syncTo(ctx context.Context, seq uint64) error {
	if l.synced.Load() >= seq {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced.Load() >= seq {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	if p := l.failure.Load(); p != nil {
		l.mu.Unlock()
		return *p
	}
	// A closed log is fine here: Close fsyncs and closes the file holding
	// syncMu, so either the file is still open or synced already covers
	// every line (or the log failed).
	f, target := l.f, l.written
	l.mu.Unlock()
	// Outside mu, so appends go on while the disk works; syncMu keeps f
	// open.
	if err := f.Sync(); err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.failLocked(err)
	}
	l.synced.Store(target)
	return nil
}

// backgroundSync is the delayed fsync of read-only events (ReadSyncDelay).
func (l *Log) backgroundSync() {
	l.mu.Lock()
	l.syncScheduled = false
	seq := l.written
	l.mu.Unlock()
	if err := l.syncTo(context.Background(), seq); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrFailed) {
		l.logError("audit log: background fsync", err)
	}
}

// fillDefaults completes the fields Append is documented to fill.
func (l *Log) fillDefaults(e *Event) error {
	if e.EventVersion == "" {
		e.EventVersion = EventVersion
	}
	if e.EventType == "" {
		e.EventType = EventTypeAPICall
	}
	if e.EventTime.IsZero() {
		e.EventTime = l.now()
	}
	// CloudTrail writes whole seconds in UTC; Truncate also drops the
	// monotonic reading, which JSON would ignore anyway.
	e.EventTime = e.EventTime.UTC().Truncate(time.Second)
	if e.EventID == "" {
		id, err := ids.UUID(l.rand)
		if err != nil {
			return err
		}
		e.EventID = id
	}
	return nil
}

// Healthy returns nil while appends are working, an error wrapping
// ErrFailed after a write failed, and ErrClosed after Close.
func (l *Log) Healthy() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	if l.closed.Load() {
		return ErrClosed
	}
	return nil
}

// LastHash returns the eventHash of the last line in the log (ZeroHash for
// an empty log). Recording it outside the log's reach anchors the chain
// against truncation.
func (l *Log) LastHash() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.prev[:])
}

// Truncated returns how many bytes of a torn final line Open removed (0 if
// the log ended cleanly).
func (l *Log) Truncated() int64 {
	return l.truncated
}

// Path returns the path the log was opened at.
func (l *Log) Path() string {
	return l.path
}

// Checkpoint writes a signed checkpoint line with reason now (see Keys);
// without Keys it writes an unsigned one. It returns once it is written.
func (l *Log) Checkpoint(ctx context.Context, reason string) error {
	return l.control(ctx, ctlCheckpoint, reason)
}

// Rotate renames the current file PATH.<UTC time> after ending it with a
// checkpoint, and continues the chain in a new file at PATH, which begins
// with a checkpoint chained to the old file's last line. If the rename
// fails the log goes on in the old file and Rotate returns the error; if
// the new file cannot be written the log fails (closed).
func (l *Log) Rotate() error {
	return l.control(context.Background(), ctlRotate, "")
}

// Reopen is for rotation by an external tool (logrotate's create mode, or
// a rename then SIGHUP): if PATH no longer names the open file, the open
// file is ended with a checkpoint and closed, and the chain continues in the
// file now at PATH (created if missing). If PATH still names the open file
// Reopen does nothing. A file at PATH that holds another chain is refused
// and the log goes on in the old file.
func (l *Log) Reopen() error {
	return l.control(context.Background(), ctlReopen, "")
}

// ctlKind is what a control call asks for.
type ctlKind int

const (
	ctlCheckpoint ctlKind = iota
	ctlRotate
	ctlReopen
)

// control carries out a checkpoint, rotation or reopen, holding the
// file exclusively.
func (l *Log) control(ctx context.Context, kind ctlKind, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	if p := l.failure.Load(); p != nil {
		return *p
	}
	switch kind {
	case ctlCheckpoint:
		return l.writeCheckpoint(reason)
	case ctlRotate:
		return l.switchFile(true)
	default:
		return l.switchFile(false)
	}
}

// Close waits for Appends in progress to be written, ends a keyed log
// with a close checkpoint, fsyncs and closes the file. Later Appends
// return ErrClosed. Closing a closed Log returns nil.
func (l *Log) Close() error {
	l.syncMu.Lock()
	l.mu.Lock()
	already := l.closed.Swap(true)
	l.mu.Unlock()
	l.syncMu.Unlock()
	if already {
		return nil
	}
	close(l.stopTick)
	<-l.tickDone

	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.failure.Load() == nil {
		if l.opts.Keys != nil {
			if cerr := l.writeCheckpoint(CheckpointClose); cerr != nil {
				l.logError("audit log: close checkpoint", cerr)
			}
		}
		if l.failure.Load() == nil {
			if err = l.f.Sync(); err == nil {
				l.synced.Store(l.written)
			} else {
				// Appends still waiting for this fsync learn it failed.
				_ = l.failLocked(err)
			}
		}
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}

// tickLoop is the timer goroutine: interval checkpoints and time-based
// rotation, which must happen even when nothing is appended.
// It is a ticker rather than clock.Every: Close must be able to stop it
// before it closes the file.
func (l *Log) tickLoop(t clock.Ticker) {
	defer close(l.tickDone)
	defer t.Stop()
	for {
		select {
		case <-l.stopTick:
			return
		case <-t.C():
			l.onTick()
		}
	}
}

// tickEvery is how often the writer wakes up by itself.
func (l *Log) tickEvery() time.Duration {
	var every time.Duration
	if l.opts.Keys != nil {
		every = l.opts.CheckpointInterval
		if every == 0 {
			every = DefaultCheckpointInterval
		}
	}
	if l.opts.RotateInterval > 0 && (every <= 0 || every > time.Minute) {
		every = time.Minute
	}
	return every
}

// onTick writes a due checkpoint and carries out a due rotation.
func (l *Log) onTick() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() || l.failure.Load() != nil {
		return
	}
	if l.opts.Keys != nil && l.opts.CheckpointInterval >= 0 && l.unsigned > 0 {
		if err := l.writeCheckpoint(CheckpointInterval); err != nil {
			l.logError("audit log: checkpoint", err)
			return
		}
	}
	l.maybeRotateLocked()
}

// rotateDueLocked reports whether the file is over RotateBytes or older
// than RotateInterval (and no failed rotation is waiting to be retried).
func (l *Log) rotateDueLocked() bool {
	if l.opts.RotateBytes <= 0 && l.opts.RotateInterval <= 0 {
		return false
	}
	now := l.now()
	due := l.opts.RotateBytes > 0 && l.size >= l.opts.RotateBytes ||
		l.opts.RotateInterval > 0 && now.Sub(l.opened) >= l.opts.RotateInterval
	return due && !now.Before(l.retryRotate)
}

// rotateIfDue rotates the file if it is still due once the file is held
// exclusively.
func (l *Log) rotateIfDue() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() || l.failure.Load() != nil {
		return
	}
	l.maybeRotateLocked()
}

// maybeRotateLocked rotates a due file; the caller holds syncMu and mu.
func (l *Log) maybeRotateLocked() {
	if !l.rotateDueLocked() {
		return
	}
	if err := l.switchFile(true); err != nil {
		// Not on every append: a rename that fails now will likely fail
		// again at once.
		l.retryRotate = l.now().Add(time.Minute)
		l.logError("audit log: rotation", err)
	}
}

func (l *Log) logError(msg string, err error) {
	if l.opts.Logger != nil {
		l.opts.Logger.Error(msg, "path", l.path, "err", err)
	}
}

// linePool recycles the buffers events are serialised into before they
// are chained into the log's own buffer: one per Append otherwise.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// putLine returns a line buffer to linePool unless it grew large.
func putLine(b *[]byte) {
	if cap(*b) <= maxKeptBuffer {
		linePool.Put(b)
	}
}

// linkLine chains one serialised event (placeholder previous hash) onto
// buf after *prev, and advances *prev to its eventHash. hashes, if not nil,
// receives the previous hash and the line's own.
func (l *Log) linkLine(buf, line []byte, prev *[hashLen]byte, hashes *[2][hashLen]byte) []byte {
	// Overwrite the placeholder previous hash, which sits just before the
	// closing `"}`.
	copy(line[len(line)-2-hashLen:], prev[:])
	body := line[:len(line)-1]
	start := len(buf)
	buf = append(buf, body...)
	if l.mac != nil {
		var m [hashLen]byte
		sumLine(l.mac, &m, prev[:], body)
		buf = append(buf, macMember...)
		buf = append(buf, m[:]...)
		buf = append(buf, '"')
	}
	var h [hashLen]byte
	sumLine(l.hasher, &h, prev[:], buf[start:])
	buf = append(buf, hashMember...)
	buf = append(buf, h[:]...)
	buf = append(buf, '"', '}', '\n')
	if hashes != nil {
		hashes[0], hashes[1] = *prev, h
	}
	*prev = h
	return buf
}

// writeLocked writes buf, whose last line's eventHash is head; a failure
// puts the log into the failed state. The caller holds mu.
func (l *Log) writeLocked(buf []byte, head [hashLen]byte) error {
	if _, err := l.f.Write(buf); err != nil {
		// A partial write may have left a torn line; nothing more is
		// written, and the next Open truncates it.
		return l.failLocked(err)
	}
	l.size += int64(len(buf))
	l.prev = head
	l.written++
	l.unsigned++
	return nil
}

// syncLocked fsyncs the file with Sync; the caller holds syncMu and mu.
func (l *Log) syncLocked() error {
	if !l.opts.Sync {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return l.failLocked(err)
	}
	l.synced.Store(l.written)
	return nil
}

// failLocked puts the log into the failed state (the first failure wins
// and is reported to OnError) and returns the error every caller gets.
// The caller holds mu.
func (l *Log) failLocked(err error) error {
	ferr := fmt.Errorf("%w: %w", ErrFailed, err)
	if l.failure.CompareAndSwap(nil, &ferr) && l.opts.OnError != nil {
		l.opts.OnError(err)
	}
	return *l.failure.Load()
}

// writeCheckpoint writes a checkpoint line, signed with Keys if set, and
// fsyncs it with Sync. The caller holds syncMu and mu.
func (l *Log) writeCheckpoint(reason string) error {
	t := l.now().UTC().Truncate(time.Second)
	id, err := ids.UUID(l.rand)
	if err != nil {
		return err
	}
	cp := &Checkpoint{Reason: reason}
	if k := l.opts.Keys; k != nil {
		cp.PublicKey = base64.StdEncoding.EncodeToString(k.PublicKey())
		cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(k.Signer, checkpointMessage(l.prev[:], t, reason)))
	}
	line, err := marshalLine(&Event{
		EventVersion: EventVersion, EventTime: t, EventSource: "bulwark", EventName: "Checkpoint",
		UserIdentity: UserIdentity{Type: IdentityAWSService, InvokedBy: "bulwark"},
		EventID:      id, ReadOnly: true, EventType: EventTypeCheckpoint, Checkpoint: cp,
	}, nil)
	if err != nil {
		return err
	}
	prev := l.prev
	buf := l.linkLine(nil, line, &prev, nil)
	if err := l.writeLocked(buf, prev); err != nil {
		return err
	}
	if err := l.syncLocked(); err != nil {
		return err
	}
	l.unsigned = 0
	if l.opts.Logger != nil {
		// Logs usually leave the machine: the head recorded there anchors
		// the chain against a rewrite of the file.
		l.opts.Logger.Info("audit log checkpoint", "path", l.path, "reason", reason, "eventHash", string(prev[:]))
	}
	return nil
}

// switchFile moves the chain to a new file at the log's path: after
// renaming the current one away (rotate) or after an external tool did
// (reopen, which does nothing if the path still names the open file). The
// caller holds syncMu and mu.
func (l *Log) switchFile(rename bool) error {
	if !rename {
		cur, err := l.f.Stat()
		if err != nil {
			return fmt.Errorf("audit: reopen: %w", err)
		}
		if st, err := os.Stat(l.path); err == nil && os.SameFile(cur, st) {
			return nil
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit: reopen: %w", err)
		}
	}
	var rotated string
	if rename {
		var err error
		if rotated, err = l.rotatedName(); err != nil {
			return err
		}
	}
	if rename {
		// The open file keeps its descriptor across the rename, so its
		// closing checkpoint goes into the renamed file; renaming first
		// means a failed rename leaves no stray checkpoint behind.
		if err := os.Rename(l.path, rotated); err != nil {
			return fmt.Errorf("audit: rotate: %w", err)
		}
	}
	if l.opts.Keys != nil {
		if err := l.writeCheckpoint(CheckpointRotate); err != nil {
			return err
		}
	} else if err := l.syncLocked(); err != nil {
		// Read-only lines may not be on disk yet (ReadSyncDelay): the
		// old file is complete only once they are.
		return err
	}
	o := l.opts
	o.VerifyOnOpen = false // the new file does not start the chain
	f, last, size, _, err := openFile(l.path, o)
	if err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	head := string(l.prev[:])
	if size > 0 && last != head {
		f.Close()
		return fmt.Errorf("audit: reopen: %s holds another chain (its last line is not this log's last line): refusing to write to it", l.path)
	}
	old := l.f
	l.f, l.size, l.opened = wrapFile(f, l.wrap), size, l.now()
	var oerr error
	if !l.opts.Sync {
		oerr = old.Sync()
	}
	if err := old.Close(); oerr == nil {
		oerr = err
	}
	if oerr != nil {
		l.logError("audit log: closing the rotated file", oerr)
	}
	if size == 0 {
		// The new file starts with a line chained to the old one, so the
		// chain survives a restart before the next event.
		if err := l.writeCheckpoint(CheckpointStart); err != nil {
			return err
		}
	}
	if l.opts.Logger != nil {
		l.opts.Logger.Info("audit log rotated", "path", l.path, "rotatedTo", rotated)
	}
	return nil
}

// rotatedName returns a free name PATH.<UTC time>[-N] for a rotated file;
// names sort in rotation order.
func (l *Log) rotatedName() (string, error) {
	base := l.path + "." + l.now().UTC().Format("20060102T150405Z")
	for i := 0; i < 1000; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%03d", base, i)
		}
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name, nil
		}
	}
	return "", fmt.Errorf("audit: rotate: no free name for %s", base)
}
