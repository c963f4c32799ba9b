// Package audit is Bulwark's CloudTrail: an append-only, hash-chained log of
// every API call, one JSON object per line, in CloudTrail's field names.
//
// # Line format and hash chain
//
// Each line is the JSON serialisation (encoding/json, default escaping) of an
// [Event] whose last members are always
//
//	"previousEventHash":"<64 hex>","eventHmac":"<64 hex>","eventHash":"<64 hex>"}
//
// (eventHmac only in a keyed log, see [Options.Keys]) followed by a single
// '\n'. The hashes of a line are
//
//	eventHmac = hex(HMAC-SHA256(K, previousEventHash_hex || macCanonical))
//	eventHash = hex(SHA-256(previousEventHash_hex || canonical))
//
// where previousEventHash_hex is the 64 ASCII hex characters of the previous
// line's eventHash (64 '0' characters for the first line of a log),
// canonical is exactly the bytes of the line with its trailing
// `,"eventHash":"<hex>"}` replaced by `}` (no newline), and macCanonical the
// line with `,"eventHmac":…` onwards replaced by `}`. K is derived from the
// master key ([DeriveKeys]). A verifier therefore needs no JSON
// canonicalisation: it hashes the bytes it read.
//
// The eventHash chain is public: changing any byte of line k makes [Verify]
// report line k, deleting line k the line after it, swapping two lines the
// first. Whoever can write the file can, however, recompute it. The
// eventHmac chain cannot be recomputed without K, and checkpoint lines
// ([Checkpoint]) carry an Ed25519 signature over the eventHash before them,
// which anyone with the public key can check ([VerifyFiles]). Once a line
// carries an eventHmac or a signed checkpoint, a later line without one is
// reported (a downgrade). Neither chain can show lines cut from the end of
// the log: the verifier reports whether the log ends with a close
// checkpoint and how many lines follow the last signature.
//
// # Bounded events
//
// [Log.Append] never refuses an event for its size: oversized strings are
// cut and marked ([TruncatedMarker]), oversized trees replaced by a marker,
// and every path shortened listed in additionalEventData.elided, so every
// call can be recorded.
//
// # Rotation
//
// [Log.Rotate] (and [Options.RotateBytes], [Options.RotateInterval]) renames
// the file and continues the chain in a new one; [Log.Reopen] does the same
// after an external tool renamed it. The new file begins with a checkpoint
// chained to the old file's last line; [VerifyFiles] checks a sequence of
// files and reports a missing or misplaced one.
//
// # Durability and group commit
//
// [Log.Append] chains and writes its line itself, under the log's mutex, in
// the caller's goroutine: the line is in the file (the operating system's
// page cache) when Append returns, so a killed process loses nothing. With
// [Options.Sync] it then waits for an fsync. fsyncs are group-committed
// without a writer goroutine: the first caller that needs one fsyncs every
// line written so far, and the callers queued behind it find their lines
// already covered. The chain order is the order of writing.
//
// With [Options.ReadSyncDelay], events marked ReadOnly do not wait for
// their fsync: it follows in the background within the delay, or with the
// next event that does wait. Only a crash of the machine (not of the
// process) can then lose read-only events, those of at most the last
// ReadSyncDelay; a failed write still fails the Append, and a failed
// background fsync fails the log.
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
// belongs to a call that did not succeed. (With Sync off, or for read-only
// events within ReadSyncDelay, a crash of the machine can lose or tear lines
// whose Append had already returned: that is the price of not waiting.) A last complete line that is not a well-formed, self-consistent
// chain line is not a torn write but corruption or tampering: Open refuses
// it and leaves the file untouched.
//
// Only one Log may have a file open at a time; on Unix systems Open takes an
// exclusive flock on the file so a second server pointed at the same path
// fails instead of forking the chain.
//
// # Redaction
//
// Callers pass request parameters and response elements through
// redact.Value before logging them (the api package's typed adapters do it
// for every call): every member named in the sensitive set
// (redact.IsSensitive) is replaced by redact.Hidden, CloudTrail's own marker.
package audit
