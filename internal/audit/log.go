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

// Batch bounds: one write carries at most this many events or bytes, so a
// burst does not make one caller wait for an unbounded write.
const (
	maxBatch      = 1024
	maxBatchBytes = 4 << 20
)

// Options configures a Log. The zero value is usable: no fsync, the system
// clock, crypto/rand, no error callback, no logging.
type Options struct {
	// Sync makes Append return only after the line is fsynced. False means a
	// crash (of the machine, not the process) can lose events whose Append
	// returned; the server turns it on. Group commit keeps it cheap.
	Sync bool
	// Now supplies EventTime for events that have none and the age of the
	// file for RotateInterval; nil means Clock.Now.
	Now func() time.Time
	// Clock makes the writer's timer for interval checkpoints and
	// time-based rotation (and tells the time when Now is nil); nil means
	// the real clock.
	Clock clock.Clock
	// Rand supplies the randomness of generated EventIDs and must be safe
	// for concurrent use; nil means crypto/rand.
	Rand io.Reader
	// OnError is called once, from the writer goroutine, with the error that
	// put the log into the failed state. It must not block or call the Log.
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

// ctlKind is what a control request asks the writer to do.
type ctlKind int

const (
	ctlNone ctlKind = iota
	ctlCheckpoint
	ctlRotate
	ctlReopen
)

// request is one Append waiting for its batch, or a control request.
type request struct {
	line   []byte        // serialised event, placeholder previous hash
	prev   [hashLen]byte // set by the writer
	hash   [hashLen]byte // set by the writer
	done   chan error    // buffered 1: the writer never blocks on it
	ctl    ctlKind
	reason string // of a ctlCheckpoint
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	opts      Options
	now       func() time.Time
	rand      io.Reader
	path      string
	truncated int64
	wrap      func(*os.File) file

	// mu orders Close against Appends handing requests to the writer, so
	// nothing is sent on reqs after it is closed.
	mu      sync.RWMutex
	closed  bool
	reqs    chan *request
	stopped chan struct{} // closed when the writer goroutine exits

	failure atomic.Pointer[error]  // set once, by the writer
	head    atomic.Pointer[string] // eventHash of the last line written
	pool    sync.Pool              // of *request

	// Owned by the writer goroutine (and Close once it has stopped).
	f        file
	prev     [hashLen]byte
	hasher   hash.Hash
	mac      hash.Hash // nil for an unkeyed log
	buf      []byte
	size     int64     // of the current file
	opened   time.Time // when the current file was opened, by now
	unsigned int       // lines since the last checkpoint
	// retryRotate is when a failed rotation may be tried again.
	retryRotate time.Time
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
	go l.run()
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

// newLog prepares the writer state for f whose chain head is last; the
// caller starts run.
func newLog(path string, f file, last string, size, truncated int64, opts Options) *Log {
	l := &Log{
		opts:      opts,
		now:       opts.Now,
		rand:      opts.Rand,
		path:      path,
		f:         f,
		size:      size,
		truncated: truncated,
		reqs:      make(chan *request, maxBatch),
		stopped:   make(chan struct{}),
		hasher:    sha256.New(),
	}
	l.opts.Clock = clock.OrReal(opts.Clock)
	if l.now == nil {
		l.now = l.opts.Clock.Now
	}
	if l.rand == nil {
		l.rand = rand.Reader
	}
	if opts.Keys != nil {
		l.mac = newMAC(opts.Keys.MAC)
	}
	l.opened = l.now()
	l.pool.New = func() any { return &request{done: make(chan error, 1)} }
	copy(l.prev[:], last)
	l.head.Store(&last)
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
	bound(e)
	line, err := marshalLine(e)
	if errors.Is(err, errTooLarge) {
		boundHard(e)
		line, err = marshalLine(e)
	}
	if err != nil {
		return err
	}
	r := l.pool.Get().(*request)
	r.line = line

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()

	select {
	case err := <-r.done:
		if err == nil {
			e.PreviousHash = string(r.prev[:])
			e.Hash = string(r.hash[:])
			e.MAC = "" // not kept per request; it is in the line
		}
		r.line = nil
		l.pool.Put(r)
		return err
	case <-ctx.Done():
		// The writer still owns r and will signal its buffered channel;
		// r is left to the garbage collector, not the pool.
		return ctx.Err()
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
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return nil
}

// LastHash returns the eventHash of the last line in the log (ZeroHash for
// an empty log). Recording it outside the log's reach anchors the chain
// against truncation.
func (l *Log) LastHash() string {
	return *l.head.Load()
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

// control hands a control request to the writer and waits for it.
func (l *Log) control(ctx context.Context, kind ctlKind, reason string) error {
	if err := l.Healthy(); err != nil {
		return err
	}
	r := &request{done: make(chan error, 1), ctl: kind, reason: reason}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	return <-r.done
}

// Close waits for pending Appends to be written, ends a keyed log with a
// close checkpoint, fsyncs and closes the file. Later Appends return
// ErrClosed. Closing a closed Log returns nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.reqs)
	l.mu.Unlock()
	<-l.stopped

	var err error
	if l.failure.Load() == nil && !l.opts.Sync {
		err = l.f.Sync()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}

// run is the writer goroutine: it takes whatever requests are waiting,
// chains, writes and syncs them as one batch, and answers each; between
// batches it carries out control requests and timed checkpoints.
func (l *Log) run() {
	defer close(l.stopped)
	var tick <-chan time.Time
	if every := l.tickEvery(); every > 0 {
		// A ticker rather than clock.Every: the writer also waits for
		// requests, and only its own goroutine may touch the file.
		t := l.opts.Clock.NewTicker(every)
		defer t.Stop()
		tick = t.C()
	}
	batch := make([]*request, 0, maxBatch)
	var pending *request
	for {
		r := pending
		pending = nil
		if r == nil {
			select {
			case x, ok := <-l.reqs:
				if !ok {
					if l.opts.Keys != nil && l.failure.Load() == nil {
						if err := l.writeCheckpoint(CheckpointClose); err != nil {
							l.logError("audit log: close checkpoint", err)
						}
					}
					return
				}
				r = x
			case <-tick:
				l.onTick()
				continue
			}
		}
		if r.ctl != ctlNone {
			r.done <- l.doControl(r)
			continue
		}
		batch = append(batch[:0], r)
		size := len(r.line)
	fill:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break fill // the next receive sees the close
				}
				if r.ctl != ctlNone {
					pending = r
					break fill
				}
				batch = append(batch, r)
				size += len(r.line)
			default:
				break fill
			}
		}
		err := l.commit(batch)
		for i, r := range batch {
			r.done <- err
			batch[i] = nil
		}
		if err == nil {
			l.maybeRotate()
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
	if l.failure.Load() != nil {
		return
	}
	if l.opts.Keys != nil && l.opts.CheckpointInterval >= 0 && l.unsigned > 0 {
		if err := l.writeCheckpoint(CheckpointInterval); err != nil {
			l.logError("audit log: checkpoint", err)
			return
		}
	}
	l.maybeRotate()
}

// maybeRotate rotates the file if it is over RotateBytes or older than
// RotateInterval.
func (l *Log) maybeRotate() {
	due := l.opts.RotateBytes > 0 && l.size >= l.opts.RotateBytes ||
		l.opts.RotateInterval > 0 && l.now().Sub(l.opened) >= l.opts.RotateInterval
	if !due || l.now().Before(l.retryRotate) {
		return
	}
	if err := l.switchFile(true); err != nil {
		// Not on every batch: a rename that fails now will likely fail
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

// doControl carries out a control request in the writer.
func (l *Log) doControl(r *request) error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	switch r.ctl {
	case ctlCheckpoint:
		return l.writeCheckpoint(r.reason)
	case ctlRotate:
		return l.switchFile(true)
	case ctlReopen:
		return l.switchFile(false)
	}
	return errors.New("audit: internal error: unknown control request")
}

// appendLine chains one serialised event (placeholder previous hash) onto
// buf after *prev, and advances *prev to its eventHash. r, if not nil,
// receives the hashes.
func (l *Log) appendLine(buf, line []byte, prev *[hashLen]byte, r *request) []byte {
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
	if r != nil {
		r.prev, r.hash = *prev, h
	}
	*prev = h
	return buf
}

// commit chains and writes one batch; it returns the error every request in
// it gets.
func (l *Log) commit(batch []*request) error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	prev := l.prev
	buf := l.buf[:0]
	for _, r := range batch {
		buf = l.appendLine(buf, r.line, &prev, r)
	}
	if cap(buf) <= maxBatchBytes*2 {
		l.buf = buf // keep a reasonable buffer for the next batch
	}
	if err := l.write(buf, prev); err != nil {
		return err
	}
	l.unsigned += len(batch)
	return nil
}

// write writes and (with Sync) fsyncs buf, whose last line's eventHash is
// head; a failure puts the log into the failed state.
func (l *Log) write(buf []byte, head [hashLen]byte) error {
	_, err := l.f.Write(buf)
	if err == nil && l.opts.Sync {
		err = l.f.Sync()
	}
	if err != nil {
		// A partial write may have left a torn line; nothing more is
		// written, and the next Open truncates it.
		ferr := fmt.Errorf("%w: %w", ErrFailed, err)
		l.failure.Store(&ferr)
		if l.opts.OnError != nil {
			l.opts.OnError(err)
		}
		return ferr
	}
	l.size += int64(len(buf))
	l.prev = head
	h := string(head[:])
	l.head.Store(&h)
	return nil
}

// writeCheckpoint writes a checkpoint line, signed with Keys if set.
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
	})
	if err != nil {
		return err
	}
	prev := l.prev
	buf := l.appendLine(nil, line, &prev, nil)
	if err := l.write(buf, prev); err != nil {
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
// (reopen, which does nothing if the path still names the open file).
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
