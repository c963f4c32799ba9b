package acm

import (
	"context"
	"crypto/x509"
	"errors"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// renewalWindow is how long before notAfter an exported private
// certificate is renewed: the configured window (AWS: 60 days), or a
// third of the lifetime for certificates too short-lived for it, so a
// one-hour certificate renews after forty minutes.
//
// The lifetime is the certificate's real one, notAfter − IssuedAt: not
// from NotBefore, which the CA back-dates an hour (a 3-minute certificate
// would look 63 minutes long and be due at once, issue 14), and not the
// validity asked for, which the CA caps at its own expiry (a certificate
// cut short that way would look 395 days long and be due at every tick).
// NotBefore stands in when IssuedAt is unknown or later.
func (s *Service) renewalWindow(c *certRecord, notBefore, notAfter time.Time) time.Duration {
	start := c.IssuedAt
	if start.IsZero() || start.Before(notBefore) {
		start = notBefore
	}
	life := max(notAfter.Sub(start), 0)
	return min(s.cfg.RenewalWindow, life/renewalFractionRemaining)
}

// daysToExpiry counts whole days left, rounding up as ACM's events do (a
// certificate expiring in 30.2 days is reported at 31 until the next day).
func daysToExpiry(now, notAfter time.Time) int {
	d := notAfter.Sub(now)
	days := int(d / (24 * time.Hour))
	if d%(24*time.Hour) != 0 {
		days++
	}
	return days
}

// Tick does one round of the expiry logic at the injected clock's time:
//
//   - exported private certificates inside their renewal window are
//     renewed and "ACM Certificate Available" is emitted;
//   - certificates within DaysBeforeExpiry get one "ACM Certificate
//     Approaching Expiration" per UTC day;
//   - expired certificates become EXPIRED with one "ACM Certificate
//     Expired".
//
// Which day was last announced is stored with the certificate and claimed
// before the event is emitted, so neither a restarted server nor a second
// server sharing the store repeats the day's event. An event the bus
// refuses is given back and retried on the next tick.
func (s *Service) Tick(ctx context.Context) error {
	ac, err := s.account(ctx)
	if err != nil {
		return err
	}
	recs, err := s.cfg.Store.List(ctx, kindCert, store.ListOptions{})
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range recs {
		c, err := decodeCert(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.tickOne(ctx, c, ac.DaysBeforeExpiry); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) tickOne(ctx context.Context, c *certRecord, daysBefore int) error {
	if c.Status == StatusRevoked || c.CertDER == nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.CertDER)
	if err != nil {
		return err
	}
	now := s.now()
	if c.Type == TypePrivate && c.Exported && now.Before(leaf.NotAfter) &&
		leaf.NotAfter.Sub(now) <= s.renewalWindow(c, leaf.NotBefore, leaf.NotAfter) {
		return s.renewIfDue(ctx, c.ID, now)
	}
	if !now.Before(leaf.NotAfter) {
		return s.announceOnce(ctx, c.ID, EventExpired,
			func(c *certRecord) bool { return c.ExpiredNotified },
			func(c *certRecord, claim bool) {
				c.ExpiredNotified = claim
				if claim {
					c.Status = StatusExpired
				}
			},
			map[string]any{"CommonName": c.DomainName, "DaysToExpiry": 0})
	}
	days := daysToExpiry(now, leaf.NotAfter)
	today := now.Format(time.DateOnly)
	if days > daysBefore || c.LastApproachingDay == today {
		return nil
	}
	previous := c.LastApproachingDay
	return s.announceOnce(ctx, c.ID, EventApproachingExpiry,
		func(c *certRecord) bool { return c.LastApproachingDay == today },
		func(c *certRecord, claim bool) {
			if claim {
				c.LastApproachingDay = today
			} else {
				c.LastApproachingDay = previous
			}
		},
		map[string]any{"DaysToExpiry": days, "CommonName": c.DomainName})
}

// errAlreadyDone ends an updateCert whose work another server (or an
// earlier tick) has already done.
var errAlreadyDone = errors.New("acm: already done")

// announceOnce emits one event for a certificate exactly once, even with
// several servers ticking over one store: it first claims the
// announcement in the certificate record (a versioned update, so only one
// claimant wins), then emits; if the bus refuses the event the claim is
// given back, so a later tick retries. A crash between claim and emit
// loses that one announcement (the next day's, or the renewer's
// reconciliation, covers it), never duplicates it.
func (s *Service) announceOnce(ctx context.Context, id, detailType string, done func(*certRecord) bool, mark func(c *certRecord, claim bool), detail map[string]any) error {
	c, err := s.updateCert(ctx, id, func(c *certRecord) error {
		if done(c) {
			return errAlreadyDone
		}
		mark(c, true)
		return nil
	})
	if errors.Is(err, errAlreadyDone) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.emit(ctx, detailType, c.ARN, detail); err != nil {
		_, _ = s.updateCert(ctx, id, func(c *certRecord) error {
			mark(c, false)
			return nil
		})
		return err
	}
	return nil
}

// renewIfDue renews an exported private certificate that is still inside
// its renewal window when re-read inside the update, so servers ticking
// together renew it once: the loser of the versioned update re-reads a
// certificate that is no longer due and stops. Only the renewing server
// announces "ACM Certificate Available".
func (s *Service) renewIfDue(ctx context.Context, id string, now time.Time) error {
	validity := s.cfg.DefaultValidity
	c, err := s.updateCert(ctx, id, func(c *certRecord) error {
		leaf, err := x509.ParseCertificate(c.CertDER)
		if err != nil {
			return err
		}
		if c.Status == StatusRevoked || !now.Before(leaf.NotAfter) || leaf.NotAfter.Sub(now) > s.renewalWindow(c, leaf.NotBefore, leaf.NotAfter) {
			return errAlreadyDone
		}
		if v, err := time.ParseDuration(c.Validity); err == nil {
			validity = v
		}
		if err := s.issueInto(ctx, c, validity); err != nil {
			return err
		}
		c.RenewalStatus, c.RenewalReason, c.RenewalUpdatedAt = RenewalSuccess, "", s.now()
		return nil
	})
	if errors.Is(err, errAlreadyDone) {
		return nil
	}
	if err != nil {
		return err
	}
	nl, err := x509.ParseCertificate(c.CertDER)
	if err != nil {
		return err
	}
	return s.emit(ctx, EventAvailable, c.ARN, map[string]any{
		"Action": "RENEWAL", "CertificateType": "PRIVATE", "CommonName": c.DomainName,
		"CertificateExpirationDate": nl.NotAfter.Format(time.RFC3339), "DaysToExpiry": daysToExpiry(now, nl.NotAfter),
		"Exported": true, "InUse": false,
	})
}

func (s *Service) emit(ctx context.Context, detailType, arn string, detail any) error {
	if s.cfg.Events == nil {
		return nil
	}
	return s.cfg.Events.PutEvent(ctx, EventSource, detailType, []string{arn}, detail)
}
