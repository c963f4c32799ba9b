package pca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// OCSP responder (RFC 6960) for every CA whose RevocationConfiguration has
// OcspConfiguration.Enabled, at "/ocsp/<ca-id>" (POST, body a DER
// OCSPRequest) and "/ocsp/<ca-id>/<base64 request>" (GET, RFC 6960
// appendix A.1). Responses are signed by the CA itself, so clients need
// no delegated responder certificate.
const (
	// OCSPValidity is a response's nextUpdate - thisUpdate. An hour keeps
	// a revocation visible to clients that cache responses within the
	// hour, where the CRL (days) would take longer.
	OCSPValidity = time.Hour
	// ocspReuse is how long a signed response is served again from memory
	// instead of signing anew; revocation drops it at once.
	ocspReuse = 5 * time.Minute
	// ocspMaxRequest bounds a request: a single-certificate OCSPRequest
	// with a nonce is about 100 bytes.
	ocspMaxRequest = 4096
	// ocspMaxCached bounds the response cache.
	ocspMaxCached = 4096
)

// ocspKey names one cached response: the CertID's hash algorithm is part
// of it because the response echoes the CertID, and the CA's record
// version so an imported certificate or changed configuration is never
// answered from an old entry.
type ocspKey struct {
	caID    string
	serial  string
	hash    crypto.Hash
	version int64
}

type ocspEntry struct {
	der        []byte
	thisUpdate time.Time
}

// ocspCache keeps recently signed responses. gen counts revocations: a
// response built from a status read before a revocation is not cached
// after it, so the cache can never hide a revocation.
type ocspCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[ocspKey]ocspEntry
}

func newOCSPCache() *ocspCache { return &ocspCache{m: map[ocspKey]ocspEntry{}} }

func (c *ocspCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *ocspCache) get(k ocspKey, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.Sub(e.thisUpdate) >= ocspReuse || now.Before(e.thisUpdate) {
		return nil, false
	}
	return e.der, true
}

func (c *ocspCache) put(k ocspKey, e ocspEntry, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a revocation happened meanwhile; this status may be stale
	}
	if len(c.m) >= ocspMaxCached {
		for ok, oe := range c.m {
			if now.Sub(oe.thisUpdate) >= ocspReuse {
				delete(c.m, ok)
			}
		}
		if len(c.m) >= ocspMaxCached {
			clear(c.m)
		}
	}
	c.m[k] = e
}

// invalidate forgets every response for a serial of a CA.
func (c *ocspCache) invalidate(caID, serial string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.m {
		if k.caID == caID && k.serial == serial {
			delete(c.m, k)
		}
	}
}

func (c *caRecord) ocspEnabled() bool {
	return c.Revocation != nil && c.Revocation.OcspConfiguration != nil &&
		c.Revocation.OcspConfiguration.Enabled != nil && *c.Revocation.OcspConfiguration.Enabled
}

// ocspURL is the OCSP responder put into the authority information access
// of certificates the CA issues; "" when OCSP is off or the server has no
// public URL.
func (s *Service) ocspURL(ca *caRecord) string {
	if !ca.ocspEnabled() {
		return ""
	}
	if cn := ca.Revocation.OcspConfiguration.OcspCustomCname; cn != "" {
		return "http://" + cn + "/ocsp/" + ca.ID
	}
	if s.cfg.OCSPBaseURL == "" {
		return ""
	}
	return s.cfg.OCSPBaseURL + "/" + ca.ID
}

// errOCSPMalformed and errOCSPUnauthorized select the unsigned error
// responses RFC 6960 section 2.3 defines.
var (
	errOCSPMalformed    = errors.New("malformed OCSP request")
	errOCSPUnauthorized = errors.New("OCSP request for another issuer")
)

// parseOCSPRequest parses a DER OCSPRequest and checks that it asks about
// a certificate issued by ca: a request that does not parse is
// errOCSPMalformed, one naming another issuer errOCSPUnauthorized.
func parseOCSPRequest(der []byte, ca *x509.Certificate) (*ocsp.Request, error) {
	if len(der) == 0 || len(der) > ocspMaxRequest {
		return nil, fmt.Errorf("%w: %d bytes", errOCSPMalformed, len(der))
	}
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errOCSPMalformed, err)
	}
	if req.SerialNumber == nil {
		return nil, fmt.Errorf("%w: no serial number", errOCSPMalformed)
	}
	nameHash, keyHash, err := issuerHashes(ca, req.HashAlgorithm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errOCSPMalformed, err)
	}
	if !bytes.Equal(nameHash, req.IssuerNameHash) || !bytes.Equal(keyHash, req.IssuerKeyHash) {
		return nil, errOCSPUnauthorized
	}
	return req, nil
}

// issuerHashes computes a CertID's issuerNameHash and issuerKeyHash (the
// hash of the subjectPublicKey bits, RFC 6960 section 4.1.1).
func issuerHashes(ca *x509.Certificate, h crypto.Hash) (name, key []byte, err error) {
	if !h.Available() {
		return nil, nil, fmt.Errorf("hash %v unavailable", h)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(ca.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, nil, err
	}
	hh := h.New()
	hh.Write(ca.RawSubject)
	name = hh.Sum(nil)
	hh.Reset()
	hh.Write(spki.PublicKey.RightAlign())
	return name, hh.Sum(nil), nil
}

// ocspRequestFromPath decodes the GET form's last path element: the
// base64 DER request, URL-escaped (RFC 6960 appendix A.1). Clients differ
// in what they escape, so both escaped and raw '/', '+' and '=' are
// accepted, as is the URL-safe alphabet.
func ocspRequestFromPath(escaped string) ([]byte, error) {
	if len(escaped) > 3*base64.StdEncoding.EncodedLen(ocspMaxRequest) {
		return nil, fmt.Errorf("%w: request too long", errOCSPMalformed)
	}
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errOCSPMalformed, err)
	}
	s = strings.TrimRight(strings.NewReplacer("-", "+", "_", "/").Replace(s), "=")
	der, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errOCSPMalformed, err)
	}
	return der, nil
}

// answerOCSP returns the DER OCSPResponse for a request to the responder
// of CA caID: signed good / revoked / unknown, or an unsigned
// malformedRequest, unauthorized or internalError.
func (s *Service) answerOCSP(ctx context.Context, caID string, der []byte) []byte {
	l, err := s.loadCA(ctx, caID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.cfg.Logger.Error("pca: OCSP: load CA", "ca", caID, "err", err)
		return ocsp.InternalErrorErrorResponse
	}
	if err != nil || l.cert == nil || !l.rec.ocspEnabled() {
		// Not a CA this responder speaks for.
		return ocsp.UnauthorizedErrorResponse
	}
	req, err := parseOCSPRequest(der, l.cert)
	switch {
	case errors.Is(err, errOCSPUnauthorized):
		return ocsp.UnauthorizedErrorResponse
	case err != nil:
		return ocsp.MalformedRequestErrorResponse
	}
	now := s.now()
	serial := x509util.SerialHex(req.SerialNumber)
	key := ocspKey{caID: caID, serial: serial, hash: req.HashAlgorithm, version: l.rec.version}
	if resp, ok := s.ocsp.get(key, now); ok {
		return resp
	}
	gen := s.ocsp.generation()
	tmpl := ocsp.Response{
		Status:       ocsp.Unknown,
		SerialNumber: req.SerialNumber,
		IssuerHash:   req.HashAlgorithm,
		ThisUpdate:   now.Truncate(time.Second),
		NextUpdate:   now.Truncate(time.Second).Add(OCSPValidity),
	}
	if sig, _, err := x509util.SignatureAlgorithm(l.rec.Config.SigningAlgorithm); err == nil {
		tmpl.SignatureAlgorithm = sig
	}
	var cr certRecord
	switch err := getJSON(ctx, s.cfg.Store, kindCert, caID+"/"+serial, &cr); {
	case errors.Is(err, store.ErrNotFound):
		// Never issued here: unknown (RFC 6960 section 2.2).
	case err != nil:
		s.cfg.Logger.Error("pca: OCSP: read certificate", "ca", caID, "serial", serial, "err", err)
		return ocsp.InternalErrorErrorResponse
	case !cr.RevokedAt.IsZero():
		tmpl.Status, tmpl.RevokedAt = ocsp.Revoked, cr.RevokedAt.Truncate(time.Second)
		tmpl.RevocationReason = revocationReasons[cr.Reason]
	default:
		tmpl.Status = ocsp.Good
	}
	resp, err := ocsp.CreateResponse(l.cert, l.cert, tmpl, l.signer)
	if err != nil {
		s.cfg.Logger.Error("pca: OCSP: sign response", "ca", caID, "err", err)
		return ocsp.InternalErrorErrorResponse
	}
	if tmpl.Status != ocsp.Unknown {
		// Unknown serials are anyone's to invent; caching them would let
		// a caller fill the cache.
		s.ocsp.put(key, ocspEntry{der: resp, thisUpdate: now}, gen, now)
	}
	return resp
}

// ocspHandler serves the responder without authentication: OCSP is public
// by design and the responses are signed.
func (s *Service) ocspHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.EscapedPath(), "/ocsp/")
		caID, reqPart, hasReq := strings.Cut(rest, "/")
		if caID == "" {
			http.NotFound(w, r)
			return
		}
		var der []byte
		var err error
		switch {
		case r.Method == http.MethodPost && !hasReq:
			der, err = io.ReadAll(http.MaxBytesReader(w, r.Body, ocspMaxRequest))
		case r.Method == http.MethodGet && hasReq:
			der, err = ocspRequestFromPath(reqPart)
		case r.Method == http.MethodGet || r.Method == http.MethodPost:
			http.NotFound(w, r)
			return
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		resp := ocsp.MalformedRequestErrorResponse
		if err == nil {
			resp = s.answerOCSP(r.Context(), caID, der)
		}
		// Every OCSP answer, error responses included, goes out as 200:
		// clients (openssl among them) read no body from other statuses.
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
		if r.Method == http.MethodGet {
			// Short, so an HTTP cache never hides a revocation for long.
			w.Header().Set("Cache-Control", "max-age=60, public, no-transform, must-revalidate")
		}
		_, _ = w.Write(resp)
	})
}
