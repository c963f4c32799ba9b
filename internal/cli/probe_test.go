package cli

import (
	"bytes"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	var status atomic.Int32 // set by each case, read by the handler
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "https://example.com/", http.StatusFound)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	local := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name     string
		url, ca  string
		insecure bool
		status   int
		wantErr  string
	}{
		{name: "verified with --ca", url: srv.URL + "/healthz", ca: ca, status: 200},
		{name: "loopback without verification", url: srv.URL + "/healthz", insecure: true, status: 200},
		{name: "localhost without verification", url: local + "/healthz", insecure: true, status: 200},
		{name: "unknown CA refused by default", url: srv.URL + "/healthz", status: 200, wantErr: "certificate"},
		{name: "503 fails", url: srv.URL + "/readyz", ca: ca, status: 503, wantErr: "503"},
		{name: "redirect not followed", url: srv.URL + "/redirect", ca: ca, status: 200, wantErr: "302"},
		{name: "insecure off loopback refused", url: "https://bulwark.example:8443/healthz", insecure: true, wantErr: "only for loopback"},
		{name: "insecure with a loopback-looking name refused", url: "https://127.0.0.1.example.com/healthz", insecure: true, wantErr: "only for loopback"},
		{name: "not a URL", url: "ftp://127.0.0.1/", wantErr: "not an http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(int32(tc.status))
			var out bytes.Buffer
			err := runProbe(&out, tc.url, tc.ca, tc.insecure, 5*time.Second)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
