package unprotect

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwarkd/bulwark/internal/fle"
)

// DefaultMaxBody bounds a request to the service when ServerOptions
// leaves MaxBody zero.
const DefaultMaxBody = 4 << 20

// ServerOptions configures the HTTP service. Whoever passes its checks
// gets plaintexts decrypted with the service's own credentials, so at
// least one authentication method is required.
type ServerOptions struct {
	// Unprotector does the work (its Decrypter holds the service's
	// credentials; its OnError applies). Required.
	Unprotector *fle.Unprotector
	// RequireClientCert demands a client certificate verified by the TLS
	// layer (tls.Config.ClientAuth = RequireAndVerifyClientCert, ClientCAs
	// set): checked again here so a misconfigured listener fails closed.
	RequireClientCert bool
	// AllowedClients, when not empty, lists the client certificate names
	// (subject CN, DNS or URI SANs) allowed; others get 403.
	AllowedClients []string
	// BearerTokens, when not empty, are the accepted
	// "Authorization: Bearer" tokens (compared in constant time).
	BearerTokens []string
	// MaxBody bounds request bodies; 0 means DefaultMaxBody.
	MaxBody int64
	// Logger receives one line per request (client, status, counts; never
	// a document); nil discards it.
	Logger *slog.Logger
}

// Handler returns the service: POST /v1/unprotect with the document as
// the body; ?mode=json or a JSON Content-Type selects JSON mode
// (?mode=text forces text). The response is the document with tokens
// replaced, the same Content-Type, and X-Bulwark-Tokens / -Failed counts.
// GET /healthz needs no authentication.
func Handler(opt ServerOptions) (http.Handler, error) {
	if opt.Unprotector == nil {
		return nil, errors.New("unprotect: no Unprotector")
	}
	if !opt.RequireClientCert && len(opt.BearerTokens) == 0 {
		return nil, errors.New("unprotect: the service must authenticate callers: configure client certificates or bearer tokens")
	}
	if len(opt.AllowedClients) > 0 && !opt.RequireClientCert {
		return nil, errors.New("unprotect: allowed clients need client certificates")
	}
	if opt.MaxBody == 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &service{opt: opt}
	for _, t := range opt.BearerTokens {
		if t == "" {
			return nil, errors.New("unprotect: empty bearer token")
		}
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/unprotect", s.unprotect)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux, nil
}

type service struct {
	opt    ServerOptions
	tokens [][32]byte
}

// authenticate returns the caller's name or an HTTP status to refuse with.
func (s *service) authenticate(r *http.Request) (string, int) {
	who := ""
	if s.opt.RequireClientCert {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return "", http.StatusUnauthorized
		}
		leaf := r.TLS.VerifiedChains[0][0]
		who = leaf.Subject.CommonName
		if len(s.opt.AllowedClients) > 0 && !allowed(leaf, s.opt.AllowedClients) {
			return who, http.StatusForbidden
		}
	}
	if len(s.tokens) > 0 {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return who, http.StatusUnauthorized
		}
		sum := sha256.Sum256([]byte(tok))
		match := 0
		for i := range s.tokens {
			match |= subtle.ConstantTimeCompare(sum[:], s.tokens[i][:])
		}
		if match != 1 {
			return who, http.StatusUnauthorized
		}
		if who == "" {
			who = "bearer"
		}
	}
	return who, 0
}

func allowed(c *x509.Certificate, names []string) bool {
	if slices.Contains(names, c.Subject.CommonName) {
		return true
	}
	for _, d := range c.DNSNames {
		if slices.Contains(names, d) {
			return true
		}
	}
	for _, u := range c.URIs {
		if slices.Contains(names, u.String()) {
			return true
		}
	}
	return false
}

func (s *service) unprotect(w http.ResponseWriter, r *http.Request) {
	who, status := s.authenticate(r)
	if status != 0 {
		s.opt.Logger.Warn("unprotect: refused", "client", who, "status", status, "remote", r.RemoteAddr)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark-unprotect"`)
		}
		writeError(w, status, "unauthenticated", http.StatusText(status))
		return
	}
	mode := Text
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		mode = JSON
	}
	switch r.URL.Query().Get("mode") {
	case "json":
		mode = JSON
	case "text":
		mode = Text
	case "":
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "mode must be json or text")
		return
	}
	doc, err := fle.ReadLimited(http.MaxBytesReader(w, r.Body, s.opt.MaxBody+1), s.opt.MaxBody)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the document is over %d bytes", s.opt.MaxBody))
		return
	}
	out, rep, err := Document(r.Context(), s.opt.Unprotector, mode, doc)
	s.opt.Logger.Info("unprotect", "client", who, "mode", mode, "tokens", rep.Tokens, "distinct", rep.Distinct, "failed", rep.Failed, "ok", err == nil)
	if err != nil {
		var fe *fle.Error
		if errors.As(err, &fe) && fe.Kind == fle.KindUnparseable {
			writeError(w, http.StatusBadRequest, string(fe.Kind), "the document is not valid JSON")
			return
		}
		writeError(w, http.StatusUnprocessableEntity, string(fle.KindDecrypt), fmt.Sprintf("%d token(s) could not be decrypted with this service's credentials", max(rep.Failed, 1)))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("X-Bulwark-Tokens", strconv.Itoa(rep.Tokens))
	w.Header().Set("X-Bulwark-Failed", strconv.Itoa(rep.Failed))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(out)
}

func writeError(w http.ResponseWriter, status int, kind, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"kind": kind, "status": status, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ServerTLSConfig builds the service's TLS configuration: its certificate
// and, when clientCA is set, required and verified client certificates.
func ServerTLSConfig(certFile, keyFile, clientCA string) (*tls.Config, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("unprotect TLS: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificates", clientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// ReadTokenFile reads bearer tokens, one per line (blank lines and lines
// starting with '#' skipped). The file should be readable by the service
// only.
func ReadTokenFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			if len(l) < 16 {
				return nil, fmt.Errorf("token file %s: tokens must be at least 16 characters", path)
			}
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("token file %s: no tokens", path)
	}
	return out, nil
}
