package server

import (
	"io"

	"log/slog"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/clock"
)

// Config is everything a Server is built from. The zero value is not
// usable: DataDir (or Storage) and MasterKey are required.
type Config struct {
	// AccountID is the 12-digit account every ARN is built in; "" means
	// "000000000000".
	AccountID string
	// Region is the region in every ARN and the audit log; "" means
	// "us-east-1".
	Region string
	// DataDir holds the embedded database; required unless Storage names
	// an external backend.
	DataDir string
	// Storage selects the backend: "" or "sqlite" for DataDir/bulwark.db,
	// "sqlite:///path/file.db" for another file, "postgres://…" for a
	// PostgreSQL database shared by several servers.
	Storage string
	// MasterKey is the 32-byte key that seals every secret at rest.
	MasterKey []byte
	// PreviousMasterKeys are retired 32-byte master keys that still open
	// secrets sealed before a rotation but never seal; remove them once
	// `bulwark admin reseal` has re-sealed everything under MasterKey.
	PreviousMasterKeys [][]byte
	// AuditLogPath is the audit log; "" means DataDir/audit.log.
	AuditLogPath string
	// AuditNoSync skips the fsync after each audit batch. The zero value
	// (sync on) is the safe one: an acknowledged call is on disk.
	AuditNoSync bool
	// AuditReadSyncDelay is how long the audit event of a read-only call
	// may stay written to the file but not yet fsynced: the call is
	// answered once its event is written (a crash of the process loses
	// nothing, a failed write still fails the call), and a background
	// fsync follows within this delay. Calls that may change something
	// always wait for their fsync, which also covers every read before
	// them. 0 means DefaultAuditReadSyncDelay; a negative value makes
	// reads wait for their fsync too (no read event lost even to power
	// loss, at several times the CPU per read; docs/operations.md).
	AuditReadSyncDelay time.Duration
	// AuditRotateBytes, when positive, rotates the audit log once it
	// reaches this size (renamed PATH.<UTC time>, the chain continuing in a
	// new file); 0 means never by size.
	AuditRotateBytes int64
	// AuditRotateInterval, when positive, rotates the audit log once its
	// file is this old; 0 means never by time.
	AuditRotateInterval time.Duration
	// RootAccessKeyID and RootSecretAccessKey, when set, are installed as
	// a root access key at start (the dev server's printed credentials).
	RootAccessKeyID     string
	RootSecretAccessKey string
	// PublicURL is the base URL clients reach this server at, put into
	// issued certificates (CRL distribution points); "" means
	// "http://127.0.0.1:4566".
	PublicURL string
	// ExtraServices are hosted beside the built-in ones (tests of the
	// framework itself use this; so could a plugin).
	ExtraServices []*api.Service
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxConnections caps open client connections; 0 means
	// DefaultMaxConnections and a negative value removes the cap (then a
	// flood of slow connections can exhaust memory and file descriptors).
	// At the cap, the connection that has gone longest without an
	// authenticated request in progress is closed to admit the new one.
	// Keep it below the process's file-descriptor limit (ulimit -n).
	MaxConnections int
	// MaxUnauthenticatedBodyBytes caps the request-body bytes held,
	// across all connections, before their signatures are verified; 0
	// means DefaultMaxUnauthenticatedBodyBytes and a negative value
	// removes the cap. The first 4 KiB of each body do not count. A body
	// that does not fit is refused with a retryable 503. It must be at
	// least MaxBodyBytes.
	MaxUnauthenticatedBodyBytes int64
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Clock tells the time (SigV4 skew, timestamps, expiry) and makes
	// the timers of every background loop (expiry events, CRL refresh,
	// key and secret rotation, event delivery, audit rotation); nil
	// means the real clock. A caller that only shifts the time of day
	// wraps its clock with clock.WithNow.
	Clock clock.Clock
	// Rand is the randomness for ids and keys; nil means crypto/rand.
	Rand io.Reader
	// XDSAllowUnsigned accepts xDS streams without a SigV4 signature,
	// unauthenticated (the audit event names no principal). The zero
	// value refuses them; set it only where the network itself
	// authenticates the data planes (dev on loopback).
	XDSAllowUnsigned bool
	// XDSAuthTimeout ends an xDS stream not authorized this long after it
	// opened; zero means xds.DefaultAuthTimeout (15 s).
	XDSAuthTimeout time.Duration
	// XDSMaxStreams caps the xDS streams this server holds at once,
	// authorized or not; zero means xds.DefaultMaxStreams (10,000).
	XDSMaxStreams int
}

// DefaultMaxBodyBytes is the request body limit when Config leaves it 0.
// The largest legitimate body among our APIs is a Secrets Manager value
// (64 KiB) or an imported certificate chain with its key (well under
// 1 MiB), so 1 MiB refuses only abuse.
const DefaultMaxBodyBytes = 1 << 20

// DefaultAuditReadSyncDelay bounds how long a read-only call's audit event
// may be written but not yet on disk: what a power loss could take from
// the log's record of reads (never of changes). Ten fsyncs a second at
// most, whatever the read rate.
const DefaultAuditReadSyncDelay = 100 * time.Millisecond

// DefaultMaxConnections is the connection cap when Config leaves it 0:
// each connection costs some 20–40 KiB before it has sent a byte, so the
// cap keeps a flood of idle connections near 100 MiB.
const DefaultMaxConnections = 2048

// DefaultMaxUnauthenticatedBodyBytes is the unauthenticated body budget
// when Config leaves it 0: 32 bodies of the largest size at once, far
// beyond what signed clients keep in flight on a 2-core server.
const DefaultMaxUnauthenticatedBodyBytes = 32 << 20

func (c *Config) withDefaults() Config {
	out := *c
	if out.AccountID == "" {
		out.AccountID = "000000000000"
	}
	if out.Region == "" {
		out.Region = "us-east-1"
	}
	if out.PublicURL == "" {
		out.PublicURL = "http://127.0.0.1:4566"
	}
	if out.MaxBodyBytes == 0 {
		out.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if out.MaxConnections == 0 {
		out.MaxConnections = DefaultMaxConnections
	}
	if out.MaxUnauthenticatedBodyBytes == 0 {
		out.MaxUnauthenticatedBodyBytes = DefaultMaxUnauthenticatedBodyBytes
	}
	if out.AuditReadSyncDelay == 0 {
		out.AuditReadSyncDelay = DefaultAuditReadSyncDelay
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	out.Clock = clock.OrReal(out.Clock)
	return out
}
