package audit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
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
	// Now supplies EventTime for events that have none; nil means time.Now.
	Now func() time.Time
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
}

// file is what the Log writes to: an *os.File, or a fault injector in tests.
type file interface {
	io.Writer
	Sync() error
	Close() error
}

// request is one Append waiting for its batch.
type request struct {
	line []byte        // serialised event, placeholder previous hash
	prev [hashLen]byte // set by the writer
	hash [hashLen]byte // set by the writer
	done chan error    // buffered 1: the writer never blocks on it
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	opts      Options
	now       func() time.Time
	rand      io.Reader
	path      string
	f         file
	truncated int64

	// mu orders Close against Appends handing requests to the writer, so
	// nothing is sent on reqs after it is closed.
	mu      sync.RWMutex
	closed  bool
	reqs    chan *request
	stopped chan struct{} // closed when the writer goroutine exits

	failure atomic.Pointer[error]  // set once, by the writer
	head    atomic.Pointer[string] // eventHash of the last line written
	pool    sync.Pool              // of *request

	// Owned by the writer goroutine.
	prev   [hashLen]byte
	hasher hash.Hash
	buf    []byte
}

// Open opens the append-only log at path, creating it (mode 0600) if needed,
// and resumes the chain from its last complete line. A torn final line is
// truncated away (see the package documentation); a corrupt last complete
// line, or with VerifyOnOpen any broken line, makes Open fail.
func Open(path string, opts Options) (*Log, error) {
	return openWith(path, opts, nil)
}

// openWith is Open with a hook that lets tests inject faults between the Log
// and its file; nil wrap means the file itself.
func openWith(path string, opts Options, wrap func(*os.File) file) (*Log, error) {
	f, last, truncated, err := openFile(path, opts)
	if err != nil {
		return nil, err
	}
	var w file = f
	if wrap != nil {
		w = wrap(f)
	}
	return newLog(path, w, last, truncated, opts), nil
}

// newLog starts the writer for f whose chain head is last.
func newLog(path string, f file, last string, truncated int64, opts Options) *Log {
	l := &Log{
		opts:      opts,
		now:       opts.Now,
		rand:      opts.Rand,
		path:      path,
		f:         f,
		truncated: truncated,
		reqs:      make(chan *request, maxBatch),
		stopped:   make(chan struct{}),
		hasher:    sha256.New(),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.rand == nil {
		l.rand = rand.Reader
	}
	l.pool.New = func() any { return &request{done: make(chan error, 1)} }
	copy(l.prev[:], last)
	l.head.Store(&last)
	go l.run()
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
		id, err := NewUUID(l.rand)
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

// Close waits for pending Appends to be written, fsyncs and closes the file.
// Later Appends return ErrClosed. Closing a closed Log returns nil.
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
// chains, writes and syncs them as one batch, and answers each.
func (l *Log) run() {
	defer close(l.stopped)
	batch := make([]*request, 0, maxBatch)
	for {
		r, ok := <-l.reqs
		if !ok {
			return
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
	}
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
		line := r.line
		// Overwrite the placeholder previous hash, which sits just before
		// the closing `"}`.
		copy(line[len(line)-2-hashLen:], prev[:])
		body := line[:len(line)-1]
		sumLine(l.hasher, &r.hash, prev[:], body)
		r.prev = prev
		buf = append(buf, body...)
		buf = append(buf, hashMember...)
		buf = append(buf, r.hash[:]...)
		buf = append(buf, '"', '}', '\n')
		prev = r.hash
	}
	if cap(buf) <= maxBatchBytes*2 {
		l.buf = buf // keep a reasonable buffer for the next batch
	}
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
	l.prev = prev
	h := string(prev[:])
	l.head.Store(&h)
	return nil
}
