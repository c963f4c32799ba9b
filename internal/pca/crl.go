package pca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// revocationReasons maps AWS's RevocationReason to RFC 5280 CRLReason.
var revocationReasons = map[string]int{
	"UNSPECIFIED":                      0,
	"KEY_COMPROMISE":                   1,
	"CERTIFICATE_AUTHORITY_COMPROMISE": 2,
	"AFFILIATION_CHANGED":              3,
	"SUPERSEDED":                       4,
	"CESSATION_OF_OPERATION":           5,
	"PRIVILEGE_WITHDRAWN":              9,
	"A_A_COMPROMISE":                   10,
}

// revoke marks a certificate revoked and regenerates the CA's CRL.
func (s *Service) revoke(ctx context.Context, caID, serial, reason string) error {
	if _, ok := revocationReasons[reason]; !ok {
		return fmt.Errorf("%w: RevocationReason %q", ErrInvalidArgs, reason)
	}
	canon, err := x509util.ParseSerial(serial)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	l, err := s.loadCA(ctx, caID)
	if err != nil {
		return err
	}
	if st := l.rec.effectiveStatus(s.now()); st != StatusActive && st != StatusDisabled {
		return fmt.Errorf("%w: the certificate authority is %s", ErrInvalidState, st)
	}
	now := s.now()
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		var cr certRecord
		if err := getJSON(ctx, tx, kindCert, caID+"/"+canon, &cr); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: the certificate authority issued no certificate with serial %s", ErrNotFound, serial)
		} else if err != nil {
			return err
		}
		if !cr.RevokedAt.IsZero() {
			return fmt.Errorf("%w: certificate %s is already revoked", ErrAlreadyProcessed, serial)
		}
		cr.RevokedAt, cr.Reason = now, reason
		if err := putJSON(ctx, tx, kindCert, caID+"/"+canon, cr, false); err != nil {
			return err
		}
		if cr.NotAfter.Before(now) {
			return nil // expired: nothing for a CRL to say
		}
		return putJSON(ctx, tx, kindRevoked, caID+"/"+canon, revokedEntry{Serial: canon, NotAfter: cr.NotAfter, RevokedAt: now, Reason: reason}, false)
	})
	if err != nil {
		return err
	}
	s.ocsp.invalidate(caID, canon)
	if l.rec.crlEnabled() {
		if _, err := s.currentCRL(ctx, caID, true); err != nil {
			// The revocation is recorded; the next fetch or tick retries.
			s.cfg.Logger.Warn("pca: CRL regeneration failed", "ca", caID, "err", err)
		}
	}
	return nil
}

// RevokeFor revokes a certificate the CA issued (serial in hex).
func (s *Service) RevokeFor(ctx context.Context, caARN, serialHex, reason string) error {
	id, err := s.parseCAARN(caARN)
	if err != nil {
		return err
	}
	return s.revoke(ctx, id, serialHex, reason)
}

// currentCRL returns the CA's CRL, regenerating it when forced, missing,
// half way to its nextUpdate, or holding a certificate that has expired.
func (s *Service) currentCRL(ctx context.Context, caID string, force bool) ([]byte, error) {
	now := s.now()
	var cur crlRecord
	err := getJSON(ctx, s.cfg.Store, kindCRL, caID, &cur)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	fresh := err == nil && !force &&
		now.Before(cur.ThisUpdate.Add(cur.NextUpdate.Sub(cur.ThisUpdate)/2)) &&
		(cur.EarliestExpiry.IsZero() || now.Before(cur.EarliestExpiry))
	if fresh {
		return cur.DER, nil
	}
	l, err := s.loadCA(ctx, caID)
	if err != nil {
		return nil, err
	}
	if l.cert == nil {
		return nil, fmt.Errorf("%w: the certificate authority has no certificate", ErrInvalidState)
	}
	var out crlRecord
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		var prev crlRecord
		if err := getJSON(ctx, tx, kindCRL, caID, &prev); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		recs, err := tx.List(ctx, kindRevoked, store.ListOptions{Prefix: caID + "/"})
		if err != nil {
			return err
		}
		tmpl := &x509.RevocationList{
			Number:     big.NewInt(prev.Number + 1),
			ThisUpdate: now,
			NextUpdate: now.Add(time.Duration(l.rec.Revocation.CrlConfiguration.ExpirationInDays) * 24 * time.Hour),
		}
		var earliest time.Time
		for _, r := range recs {
			var e revokedEntry
			if err := getJSON(ctx, tx, kindRevoked, r.ID, &e); err != nil {
				return err
			}
			if !e.NotAfter.After(now) {
				// Expired certificates leave the CRL for good.
				if err := tx.Delete(ctx, kindRevoked, r.ID); err != nil {
					return err
				}
				continue
			}
			n, ok := new(big.Int).SetString(e.Serial, 16)
			if !ok {
				return fmt.Errorf("pca: bad serial %q in revocation index", e.Serial)
			}
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
				SerialNumber: n, RevocationTime: e.RevokedAt, ReasonCode: revocationReasons[e.Reason],
			})
			if earliest.IsZero() || e.NotAfter.Before(earliest) {
				earliest = e.NotAfter
			}
		}
		der, err := x509.CreateRevocationList(s.cfg.Rand, tmpl, l.cert, l.signer)
		if err != nil {
			return fmt.Errorf("pca: sign CRL: %w", err)
		}
		out = crlRecord{DER: der, Number: tmpl.Number.Int64(), ThisUpdate: now, NextUpdate: tmpl.NextUpdate,
			Entries: len(tmpl.RevokedCertificateEntries), EarliestExpiry: earliest}
		return putJSON(ctx, tx, kindCRL, caID, out, false)
	})
	if err != nil {
		return nil, err
	}
	return out.DER, nil
}

// crlHandler serves GET /crl/<ca-id>.crl without authentication, as CRLs
// are public by design.
func (s *Service) crlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/crl/"), ".crl")
		if !ok || id == "" || strings.Contains(id, "/") {
			http.NotFound(w, r)
			return
		}
		l, err := s.loadCA(r.Context(), id)
		if err != nil || !l.rec.crlEnabled() || l.cert == nil {
			http.NotFound(w, r)
			return
		}
		der, err := s.currentCRL(r.Context(), id, false)
		if err != nil {
			s.cfg.Logger.Error("pca: serve CRL", "ca", id, "err", err)
			http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(der)
	})
}
