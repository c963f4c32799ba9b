package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

// Backend is what the admin endpoints read from a running proxy.
type Backend interface {
	// Stats returns the statistics store.
	Stats() *stats.Store
	// Certs describes the certificates in use.
	Certs() Certs
	// ConfigDump returns the effective configuration, secrets redacted.
	ConfigDump() any
	// State returns "PRE_INITIALIZING", "LIVE" or "DRAINING".
	State() string
	// ServerInfo returns /server_info's document.
	ServerInfo() ServerInfo
}

// Certs is /certs' document, in Envoy's shape.
type Certs struct {
	Certificates []CertContext `json:"certificates"`
}

// CertContext is one TLS context (a listener's or a cluster's).
type CertContext struct {
	Name      string     `json:"name"`
	CACert    []CertInfo `json:"ca_cert"`
	CertChain []CertInfo `json:"cert_chain"`
	// Source is how the certificate source is doing (a Bulwark
	// addition): a source that cannot be read shows here, with its last
	// error, while the material it last gave keeps serving.
	Source *SourceState `json:"source,omitempty"`
}

// SourceState is a certificate source's health in /certs.
type SourceState struct {
	// Status is "loading", "ok", "stale" (old material serving, last
	// check failed) or "failing" (no material yet, last check failed).
	Status              string `json:"status"`
	LastError           string `json:"last_error,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	LastAttempt         string `json:"last_attempt,omitempty"`
	LastSuccess         string `json:"last_success,omitempty"`
}

// CertInfo describes one certificate.
type CertInfo struct {
	Path                string   `json:"path"`
	SerialNumber        string   `json:"serial_number"`
	SubjectAltNames     []string `json:"subject_alt_names"`
	DaysUntilExpiration int64    `json:"days_until_expiration"`
	ValidFrom           string   `json:"valid_from"`
	ExpirationTime      string   `json:"expiration_time"`
}

// ServerInfo is /server_info's document.
type ServerInfo struct {
	Version            string `json:"version"`
	State              string `json:"state"`
	UptimeCurrentEpoch string `json:"uptime_current_epoch"`
	Node               string `json:"node"`
	Mesh               string `json:"mesh"`
}

// Handler returns the admin mux.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		q, err := query(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch r.URL.Query().Get("format") {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			_ = b.Stats().WriteJSON(w, q)
		case "prometheus":
			prom(w, b, q)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_ = b.Stats().WriteText(w, q)
		}
	})
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, r *http.Request) {
		q, err := query(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		prom(w, b, q)
	})
	mux.HandleFunc("GET /certs", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, b.Certs()) })
	mux.HandleFunc("GET /server_info", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, b.ServerInfo()) })
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, Redact(b.ConfigDump())) })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		s := b.State()
		if s != "LIVE" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, s+"\n")
	})
	return mux
}

func prom(w http.ResponseWriter, b Backend, q stats.Query) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_ = b.Stats().WritePrometheus(w, q)
}

func query(r *http.Request) (stats.Query, error) {
	v := r.URL.Query()
	q := stats.Query{}
	_, q.UsedOnly = v["usedonly"]
	if f := v.Get("filter"); f != "" {
		re, err := regexp.Compile(f)
		if err != nil {
			return q, err
		}
		q.Filter = re
	}
	return q, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Redact returns a JSON-shaped copy of v with private keys and secret
// values replaced by "[redacted]": any string holding a PEM private key,
// and any member whose name says it is a key, passphrase or secret value.
func Redact(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return "[unrenderable]"
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return "[unrenderable]"
	}
	return redact(doc, "")
}

var secretMember = regexp.MustCompile(`(?i)(passphrase|password|secretstring|secret_value|inline_bytes|inline_string|private_key_pem)`)

func redact(v any, member string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = redact(e, k)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = redact(e, member)
		}
		return t
	case string:
		if strings.Contains(t, "PRIVATE KEY-----") || secretMember.MatchString(member) {
			return "[redacted]"
		}
	}
	return v
}
