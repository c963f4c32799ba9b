package demo

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// runner prints numbered steps for a person and records failed checks.
type runner struct {
	out    io.Writer
	tty    bool // draw a spinner (a terminal) or print one line (a log)
	step   int
	failed []string
	mu     sync.Mutex
}

// section prints a numbered step title and what it proves.
func (r *runner) section(title, proves string) {
	r.step++
	fmt.Fprintf(r.out, "\n%d. %s\n", r.step, title)
	if proves != "" {
		fmt.Fprintf(r.out, "   proves: %s\n", proves)
	}
}

// info prints an indented line.
func (r *runner) info(format string, args ...any) {
	fmt.Fprintf(r.out, "   "+format+"\n", args...)
}

// check records and prints one verified claim.
func (r *runner) check(ok bool, format string, args ...any) bool {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		fmt.Fprintf(r.out, "   ok    %s\n", msg)
		return true
	}
	fmt.Fprintf(r.out, "   FAIL  %s\n", msg)
	r.failed = append(r.failed, fmt.Sprintf("step %d: %s", r.step, msg))
	return false
}

// must records an error as a failed check and reports whether it was nil.
func (r *runner) must(err error, what string) bool {
	if err != nil {
		return r.check(false, "%s: %v", what, err)
	}
	return true
}

// wait polls cond until it holds or timeout passes, drawing a small
// progress indicator, and reports whether it held.
func (r *runner) wait(what string, timeout time.Duration, cond func() bool) bool {
	frames := []string{"|", "/", "-", "\\"}
	start := time.Now()
	if !r.tty {
		fmt.Fprintf(r.out, "   ...   %s\n", what)
	}
	for i := 0; ; i++ {
		if cond() {
			if r.tty {
				fmt.Fprintf(r.out, "\r   ...   %s (%.1fs)%s\n", what, time.Since(start).Seconds(), strings.Repeat(" ", 8))
			}
			return true
		}
		if time.Since(start) > timeout {
			fmt.Fprintf(r.out, "\r   ...   %s: gave up after %v\n", what, timeout)
			return false
		}
		if r.tty {
			fmt.Fprintf(r.out, "\r   %s     %s", frames[i%len(frames)], what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isTerminal reports whether w is a character device (a person's terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// err summarises failed checks.
func (r *runner) err() error {
	if len(r.failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d check(s) failed:\n  %s", len(r.failed), strings.Join(r.failed, "\n  "))
}
