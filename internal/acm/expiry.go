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
func (s *Service) renewalWindow(c *certRecord, notBefore, notAfter time.Time) time.Duration {
	// The lifetime asked for, not the certificate's: NotBefore is
	// back-dated an hour, which would skew short lifetimes.
	life, err := time.ParseDuration(c.Validity)
	if err != nil || life <= 0 {
		life = notAfter.Sub(notBefore)
	}
	if s.cfg.RenewalWindow*renewalFractionRemaining > life {
		return life / renewalFractionRemaining
	}
	return s.cfg.RenewalWindow
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
// Which day was last announced is stored with the certificate, so a
// restarted server does not repeat the day's event. An event the bus
// refuses is not marked sent and is retried on the next tick.
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
		renewed, err := s.Renew(ctx, c.ID)
		if err != nil {
			return err
		}
		nl, err := x509.ParseCertificate(renewed.CertDER)
		if err != nil {
			return err
		}
		return s.emit(ctx, EventAvailable, c.ARN, map[string]any{
			"Action": "RENEWAL", "CertificateType": "PRIVATE", "CommonName": c.DomainName,
			"CertificateExpirationDate": nl.NotAfter.Format(time.RFC3339), "DaysToExpiry": daysToExpiry(now, nl.NotAfter),
			"Exported": true, "InUse": false,
		})
	}
	if !now.Before(leaf.NotAfter) {
		if c.ExpiredNotified {
			return nil
		}
		if err := s.emit(ctx, EventExpired, c.ARN, map[string]any{"CommonName": c.DomainName, "DaysToExpiry": 0}); err != nil {
			return err
		}
		_, err := s.updateCert(ctx, c.ID, func(c *certRecord) error {
			c.Status, c.ExpiredNotified = StatusExpired, true
			return nil
		})
		return err
	}
	days := daysToExpiry(now, leaf.NotAfter)
	today := now.Format(time.DateOnly)
	if days > daysBefore || c.LastApproachingDay == today {
		return nil
	}
	if err := s.emit(ctx, EventApproachingExpiry, c.ARN, map[string]any{"DaysToExpiry": days, "CommonName": c.DomainName}); err != nil {
		return err
	}
	_, err = s.updateCert(ctx, c.ID, func(c *certRecord) error {
		c.LastApproachingDay = today
		return nil
	})
	return err
}

func (s *Service) emit(ctx context.Context, detailType, arn string, detail any) error {
	if s.cfg.Events == nil {
		return nil
	}
	return s.cfg.Events.PutEvent(ctx, EventSource, detailType, []string{arn}, detail)
}
