package certsource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
)

func selfSigned(t *testing.T, cn string, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

// TestReloaderSwapsAndRefuses drives one file source through a symlink
// swap (accepted) and broken writes (refused, old material kept, counted).
func TestReloaderSwapsAndRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c1, k1 := selfSigned(t, "a", time.Now().Add(time.Hour))
	c2, k2 := selfSigned(t, "a", time.Now().Add(time.Hour))
	cExp, kExp := selfSigned(t, "a", time.Now().Add(-time.Hour))
	cOther, kOther := selfSigned(t, "b", time.Now().Add(time.Hour))
	write("v1.pem", c1)
	write("v1.key", k1)
	link := func(v string) {
		for _, ext := range []string{".pem", ".key"} {
			tmp := filepath.Join(dir, "tmp"+ext)
			_ = os.Remove(tmp)
			if err := os.Symlink(filepath.Join(dir, v+ext), tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(dir, "cur"+ext)); err != nil {
				t.Fatal(err)
			}
		}
	}
	link("v1")
	st := stats.NewStore()
	r := NewReloader(ReloaderConfig{Name: "test", Source: File{CertFile: filepath.Join(dir, "cur.pem"), KeyFile: filepath.Join(dir, "cur.key")},
		Stats: st, PollInterval: -1, Policy: Policy{SANs: []string{"a"}}})
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := r.Current()
	swaps := 0
	r.Subscribe(func(_, _ *Material) { swaps++ })
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		wantNew bool
	}{
		{"unchanged", nil, false},
		{"corrupt certificate", map[string][]byte{"v3.pem": []byte("junk"), "v3.key": k1}, false},
		{"mismatched key", map[string][]byte{"v4.pem": c1, "v4.key": k2}, false},
		{"expired", map[string][]byte{"v5.pem": cExp, "v5.key": kExp}, false},
		{"wrong SAN", map[string][]byte{"v6.pem": cOther, "v6.key": kOther}, false},
		{"good symlink swap", map[string][]byte{"v2.pem": c2, "v2.key": k2}, true},
	} {
		before := r.Current()
		v := ""
		for n, b := range tc.files {
			write(n, b)
			v = n[:2]
		}
		if v != "" {
			link(v)
		}
		err := r.Reload(context.Background())
		if tc.wantNew != (r.Current() != before) {
			t.Errorf("%s: swapped=%v, want %v (err %v)", tc.name, r.Current() != before, tc.wantNew, err)
		}
		if tc.name == "unchanged" && !errors.Is(err, ErrUnchanged) {
			t.Errorf("unchanged: err = %v", err)
		}
	}
	if r.Current() == first || swaps != 1 {
		t.Errorf("swaps = %d", swaps)
	}
	if got := st.Counter(stats.SourcePrefix("test") + stats.UpdateRejected).Value(); got != 4 {
		t.Errorf("update_rejected = %d, want 4", got)
	}
}

// issue makes a certificate for cn signed by parent (self-signed when
// parent is nil), valid from notBefore to notAfter.
func issue(t *testing.T, cn string, isCA bool, notBefore, notAfter time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true, IsCA: isCA}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames = []string{cn}
	}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// TestReloaderRefusesChainOutsideValidity: a certificate file whose leaf
// is valid but whose intermediate has expired (or is not yet valid) is
// refused, counted as a rejected update, and the material in use is kept,
// so the listener is not drained by a bad swap.
func TestReloaderRefusesChainOutsideValidity(t *testing.T) {
	now := time.Now()
	root, rootKey := issue(t, "root", true, now.Add(-48*time.Hour), now.Add(48*time.Hour), nil, nil)
	chainPEM := func(interFrom, interTo time.Time) (certPEM, keyPEM []byte) {
		inter, interKey := issue(t, "inter", true, interFrom, interTo, root, rootKey)
		leaf, leafKey := issue(t, "a", false, now.Add(-time.Hour), now.Add(time.Hour), inter, interKey)
		kd, err := x509.MarshalPKCS8PrivateKey(leafKey)
		if err != nil {
			t.Fatal(err)
		}
		certPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)
		return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
	}
	tests := []struct {
		name         string
		from, to     time.Time
		wantAccepted bool
	}{
		{"valid intermediate", now.Add(-24 * time.Hour), now.Add(24 * time.Hour), true},
		{"expired intermediate", now.Add(-24 * time.Hour), now.Add(-time.Minute), false},
		{"intermediate not yet valid", now.Add(time.Minute), now.Add(24 * time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
			c1, k1 := selfSigned(t, "a", now.Add(time.Hour))
			for p, b := range map[string][]byte{certFile: c1, keyFile: k1} {
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			st := stats.NewStore()
			r := NewReloader(ReloaderConfig{Name: "chain", Source: File{CertFile: certFile, KeyFile: keyFile}, Stats: st, PollInterval: -1,
				Policy: Policy{Clock: clock.NewFake(now), SANs: []string{"a"}}})
			if err := r.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			old := r.Current()
			c2, k2 := chainPEM(tc.from, tc.to)
			for p, b := range map[string][]byte{certFile: c2, keyFile: k2} {
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := r.Reload(context.Background())
			rejected := st.Counter(stats.SourcePrefix("chain") + stats.UpdateRejected).Value()
			if tc.wantAccepted {
				if err != nil || r.Current() == old || rejected != 0 {
					t.Fatalf("valid chain refused: err %v, swapped %v, rejected %d", err, r.Current() != old, rejected)
				}
				return
			}
			if err == nil || r.Current() != old || rejected != 1 {
				t.Fatalf("err %v, swapped %v, rejected %d; want refusal with the old material kept", err, r.Current() != old, rejected)
			}
			if !r.Current().NotAfter().After(now) {
				t.Errorf("material in use expires at %s", r.Current().NotAfter())
			}
		})
	}
}
