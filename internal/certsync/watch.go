package certsync

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/clock"
)

// DefaultWatchInterval is how often a Watcher polls when Interval is zero.
const DefaultWatchInterval = time.Minute

// Watcher keeps a directory in step with the secrets of a prefix.
type Watcher struct {
	// Secrets reads the secrets (GetSecretValue only).
	Secrets SecretsReader
	// Prefix names the four secrets.
	Prefix string
	// Writer places each new set on disk.
	Writer *Writer
	// Interval between polls; zero means DefaultWatchInterval.
	Interval time.Duration
	// Clock makes the poll timer; nil means the real clock.
	Clock clock.Clock
	// Logger gets serials and version ids, never key material; nil
	// discards.
	Logger *slog.Logger
	// OnChange, if set, is called after each new set is on disk (to
	// signal a proxy, or in tests).
	OnChange func(*Bundle)

	last string
}

// Sync polls once: it reads the certificate secret's AWSCURRENT version
// id (GetSecretValue, so the GetSecretValue-only policy suffices) and, if
// it differs from the last one written, fetches and writes the set.
func (w *Watcher) Sync(ctx context.Context) (bool, error) {
	out, err := w.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(NamesFor(w.Prefix).Certificate)})
	if err != nil {
		return false, fmt.Errorf("poll %s: %w", NamesFor(w.Prefix).Certificate, err)
	}
	if w.last != "" && aws.ToString(out.VersionId) == w.last {
		return false, nil
	}
	b, err := Fetch(ctx, w.Secrets, w.Prefix)
	if err != nil {
		return false, err
	}
	if _, err := w.Writer.Write(b); err != nil {
		return false, fmt.Errorf("write %s: %w", w.Writer.Dir, err)
	}
	w.last = b.VersionID
	w.logger().Info("certificate written", "prefix", w.Prefix, "dir", w.Writer.Dir, "serial", b.Serial,
		"version", b.VersionID, "not_after", b.Leaf.NotAfter.UTC().Format(time.RFC3339))
	if w.OnChange != nil {
		w.OnChange(b)
	}
	return true, nil
}

// Run polls until ctx ends. Failed polls are logged and retried at the
// next interval; the set on disk stays as it was.
func (w *Watcher) Run(ctx context.Context) error {
	iv := w.Interval
	if iv <= 0 {
		iv = DefaultWatchInterval
	}
	clock.EveryAfter(ctx, w.Clock, iv, func(ctx context.Context) {
		if _, err := w.Sync(ctx); err != nil && ctx.Err() == nil {
			w.logger().Warn("certificate poll failed; keeping the current files", "prefix", w.Prefix, "err", err)
		}
	})
	return ctx.Err()
}

func (w *Watcher) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}
