// Package audit is Bulwark's CloudTrail: an append-only, hash-chained log of
// every API call, one JSON object per line, in CloudTrail's field names.
//
// # Line format and hash chain
//
// Each line is the JSON serialisation (encoding/json, default escaping) of an
// [Event] whose last two members are always
//
//	"previousEventHash":"<64 lowercase hex>","eventHash":"<64 lowercase hex>"}
//
// followed by a single '\n'. The hash of a line is
//
//	eventHash = hex(SHA-256(previousEventHash_hex || canonical))
//
// where previousEventHash_hex is the 64 ASCII hex characters of the previous
// line's eventHash (64 '0' characters for the first line of a log) and
// canonical is exactly the bytes of the line with its trailing
// `,"eventHash":"<hex>"}` replaced by `}` (no newline). A verifier therefore
// needs no JSON canonicalisation: it hashes the bytes it read. The writer
// produces the line by serialising the event with Hash empty (omitted) and
// splicing the hash member in before the final '}'.
//
// Changing any byte of line k makes [Verify] report line k (its eventHash no
// longer matches); deleting line k makes it report the line that followed
// (its previousEventHash no longer matches); swapping two lines is reported
// at the first of them. The chain alone cannot detect removal of lines from
// the end of the log, nor a log rewritten wholesale with recomputed hashes:
// export [Log.LastHash] to somewhere the log's writer cannot change (as
// CloudTrail does with signed digest files) to anchor it.
//
// # Durability and group commit
//
// [Log.Append] returns only after its line has been written and, with
// [Options.Sync], fsynced. Concurrent Appends are batched by one writer
// goroutine into one write and one fsync (group commit), so the cost of
// fsync is shared by every caller waiting at that moment. The chain order is
// the order of writing.
//
// # Failure is closed
//
// If a write or fsync fails the Log enters a failed state: that Append and
// every later one return an error wrapping [ErrFailed] without touching the
// file, and [Log.Healthy] reports it, until the log is closed and opened
// again. The server refuses requests while its audit log is unhealthy, so an
// action is never performed without its record.
//
// # Torn final line
//
// A crash during a write can leave an incomplete last line (bytes after the
// last '\n'). [Open] truncates such a tail away, logs that through
// [Options.Logger] and reports the number of bytes removed by
// [Log.Truncated]; the chain continues from the last complete line. This is
// safe because an Append only succeeds once its whole line (including the
// newline) has been written, and with Sync also fsynced: a torn line always
// belongs to a call that did not succeed. (With Sync off, a crash can lose or
// tear lines whose Append had already returned: that is the price of turning
// it off.) A last complete line that is not a well-formed, self-consistent
// chain line is not a torn write but corruption or tampering: Open refuses
// it and leaves the file untouched.
//
// Only one Log may have a file open at a time; on Unix systems Open takes an
// exclusive flock on the file so a second server pointed at the same path
// fails instead of forking the chain.
//
// # Redaction
//
// Callers pass request parameters and response elements through [Redact]
// before logging them: every member named in the sensitive set (see
// [IsSensitive]) is replaced by [Hidden], CloudTrail's own marker.
package audit
