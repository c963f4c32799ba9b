package acm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/acm"
	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

// fakeCA is an in-memory EC root that signs anything.
type fakeCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newFakeCA(t testing.TB) *fakeCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake root"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(20, 0, 0), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &fakeCA{key: key, cert: cert}
}

func (f *fakeCA) IssueFor(_ context.Context, _ string, csrDER []byte, _ string, notAfter time.Time) ([]byte, [][]byte, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: csr.Subject, DNSNames: csr.DNSNames,
		NotBefore: notAfter.Add(-time.Hour * 24 * 400), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.cert, csr.PublicKey, f.key)
	return der, [][]byte{f.cert.Raw}, err
}

func (f *fakeCA) RevokeFor(context.Context, string, string, string) error { return nil }
func (f *fakeCA) KeyAlgorithmOf(context.Context, string) (string, error) {
	return "EC_prime256v1", nil
}

type event struct {
	detailType string
	resources  []string
	detail     map[string]any
}

// recorder is a fake event bus that records what ACM sends.
type recorder struct {
	mu     sync.Mutex
	events []event
	fail   bool
}

func (r *recorder) PutEvent(_ context.Context, source, detailType string, resources []string, detail any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return context.DeadlineExceeded
	}
	if source != "aws.acm" {
		panic("source " + source)
	}
	r.events = append(r.events, event{detailType, resources, detail.(map[string]any)})
	return nil
}

func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func openStore(t testing.TB, path string) store.Store { return storetest.SQLite(t, path) }

const testCA = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/11111111-2222-4333-8444-555555555555"

// TestExpiryEvents moves the clock through the 45 days before expiry:
// every certificate gets exactly one approaching-expiration event per
// day, a restart does not repeat the day's event, and expiry is
// announced once.
func TestExpiryEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "db.sqlite")
	st := openStore(t, dbPath)
	clk := clock.NewFake(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	ca := newFakeCA(t)
	cfg := acm.Config{Store: st, CA: ca, Events: rec, AccountID: "111122223333", Region: "us-east-1", Clock: clk}
	svc := acm.New(cfg)
	var arns []string
	for _, d := range []string{"a.mesh.local", "b.mesh.local"} {
		arn, err := svc.Request(ctx, acm.RequestInput{DomainName: d, CAARN: testCA,
			Tags: []acm.Tag{{Key: acm.ValidityTag, Value: "2400h"}}}) // 100 days
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, arn)
	}
	// Day 0..54: nothing (more than 45 days left).
	for day := 0; day < 55; day++ {
		if err := svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(24 * time.Hour)
	}
	if ev := rec.take(); len(ev) != 0 {
		t.Fatalf("events before the window: %+v", ev)
	}
	// 45 days left and on: hourly ticks, one event per certificate per day.
	seen := map[string]map[string]int{}
	for hour := 0; hour < 45*24; hour++ {
		if err := svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if hour == 10*24+5 {
			svc = acm.New(cfg) // a restart in the middle of a day
		}
		for _, e := range rec.take() {
			if e.detailType != acm.EventApproachingExpiry {
				t.Fatalf("unexpected %s", e.detailType)
			}
			if seen[e.resources[0]] == nil {
				seen[e.resources[0]] = map[string]int{}
			}
			seen[e.resources[0]][clk.Now().Format(time.DateOnly)]++
			if e.detail["CommonName"] == "" || e.detail["DaysToExpiry"].(int) > 45 {
				t.Fatalf("detail %+v", e.detail)
			}
		}
		clk.Add(time.Hour)
	}
	for _, arn := range arns {
		// Noon 45 days before expiry to the last hour before it touches
		// 46 UTC days.
		if len(seen[arn]) != 46 {
			t.Errorf("%s: events on %d days, want 46", arn, len(seen[arn]))
		}
		for day, n := range seen[arn] {
			if n != 1 {
				t.Errorf("%s: %d events on %s", arn, n, day)
			}
		}
	}
	// Past expiry: one expired event each, then silence.
	clk.Add(48 * time.Hour)
	for i := 0; i < 3; i++ {
		if err := svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	expired := rec.take()
	if len(expired) != 2 || expired[0].detailType != acm.EventExpired || expired[1].detailType != acm.EventExpired {
		t.Fatalf("expired events: %+v", expired)
	}
}

// TestManagedRenewal: an exported short-lived certificate is renewed at
// two thirds of its lifetime and "ACM Certificate Available" goes out;
// a refused event is retried.
func TestManagedRenewal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	svc := acm.New(acm.Config{Store: openStore(t, filepath.Join(t.TempDir(), "db")), CA: newFakeCA(t), Events: rec,
		AccountID: "111122223333", Region: "us-east-1", Clock: clk})
	arn, err := svc.Request(ctx, acm.RequestInput{DomainName: "short.mesh.local", CAARN: testCA, Tags: []acm.Tag{{Key: acm.ValidityTag, Value: "3h"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := arn[len(arn)-36:]
	first, err := svc.Export(ctx, id, []byte("pass1234"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(110 * time.Minute) // 70 minutes left of 180: above a third
	if err := svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := only(rec.take(), acm.EventAvailable); len(ev) != 0 {
		t.Fatalf("renewed too early: %+v", ev)
	}
	clk.Add(15 * time.Minute) // 55 minutes left: inside the window
	if err := svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	ev := only(rec.take(), acm.EventAvailable)
	if len(ev) != 1 || ev[0].resources[0] != arn {
		t.Fatalf("events: %+v", ev)
	}
	second, err := svc.Export(ctx, id, []byte("pass1234"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Certificate == second.Certificate || first.PrivateKey == second.PrivateKey {
		t.Fatal("renewal kept the certificate or key")
	}
}

func only(evs []event, detailType string) []event {
	var out []event
	for _, e := range evs {
		if e.detailType == detailType {
			out = append(out, e)
		}
	}
	return out
}

// TestSeveralServersTickOnce runs three ACM services over one store (as
// three replicas over one database) ticking at the same moments: each
// certificate still gets one approaching-expiration event per day, and a
// due managed renewal happens once.
func TestSeveralServersTickOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	clk := clock.NewFake(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	cfg := acm.Config{Store: st, CA: newFakeCA(t), Events: rec, AccountID: "111122223333", Region: "us-east-1", Clock: clk}
	replicas := []*acm.Service{acm.New(cfg), acm.New(cfg), acm.New(cfg)}
	arn, err := replicas[0].Request(ctx, acm.RequestInput{DomainName: "shared.mesh.local", CAARN: testCA,
		Tags: []acm.Tag{{Key: acm.ValidityTag, Value: "1000h"}}}) // under 42 days: in the window at once
	if err != nil {
		t.Fatal(err)
	}
	tickAll := func() {
		var wg sync.WaitGroup
		for _, r := range replicas {
			wg.Add(1)
			go func(r *acm.Service) {
				defer wg.Done()
				for i := 0; i < 3; i++ {
					if err := r.Tick(ctx); err != nil {
						t.Error(err)
					}
				}
			}(r)
		}
		wg.Wait()
	}
	for day := 0; day < 5; day++ {
		tickAll()
		if ev := only(rec.take(), acm.EventApproachingExpiry); len(ev) != 1 || ev[0].resources[0] != arn {
			t.Fatalf("day %d: %d approaching-expiration events from 3 replicas, want 1", day, len(ev))
		}
		clk.Add(24 * time.Hour)
	}

	// A short-lived exported certificate due for renewal: renewed once.
	short, err := replicas[0].Request(ctx, acm.RequestInput{DomainName: "short.mesh.local", CAARN: testCA, Tags: []acm.Tag{{Key: acm.ValidityTag, Value: "3h"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replicas[1].Export(ctx, short[len(short)-36:], []byte("pass1234")); err != nil {
		t.Fatal(err)
	}
	rec.take()
	clk.Add(130 * time.Minute)
	tickAll()
	if ev := only(rec.take(), acm.EventAvailable); len(ev) != 1 || ev[0].resources[0] != short {
		t.Fatalf("renewal announced %d times by 3 replicas, want 1: %+v", len(ev), ev)
	}
}

// TestManagedRenewalCycles: ACM's own renewal of exported short-lived
// certificates happens once per cycle (with a third of the lifetime
// left), measured from IssuedAt: the fake CA back-dates NotBefore by
// 400 days, far more than the real CA's hour, and that must not make a
// certificate due the moment it is issued (issue 14).
func TestManagedRenewalCycles(t *testing.T) {
	t.Parallel()
	for _, life := range []time.Duration{2 * time.Minute, time.Hour, 720 * time.Hour} {
		t.Run(life.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
			rec := &recorder{}
			svc := acm.New(acm.Config{Store: openStore(t, filepath.Join(t.TempDir(), "db")), CA: newFakeCA(t), Events: rec,
				AccountID: "111122223333", Region: "us-east-1", Clock: clk})
			arn, err := svc.Request(ctx, acm.RequestInput{DomainName: "short.mesh.local", CAARN: testCA, Tags: []acm.Tag{{Key: acm.ValidityTag, Value: life.String()}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Export(ctx, arn[len(arn)-36:], []byte("pass1234")); err != nil {
				t.Fatal(err)
			}
			if err := svc.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := only(rec.take(), acm.EventAvailable); len(ev) != 0 {
				t.Fatalf("renewed at issue: %d Available events", len(ev))
			}
			step := life / 30
			renewals := 0
			for range 90 { // three lifetimes
				clk.Add(step)
				if err := svc.Tick(ctx); err != nil {
					t.Fatal(err)
				}
				renewals += len(only(rec.take(), acm.EventAvailable))
			}
			// One renewal every two thirds of a lifetime: 4.5 in three.
			if renewals < 4 || renewals > 5 {
				t.Errorf("%d managed renewals in three lifetimes, want 4 or 5", renewals)
			}
		})
	}
}
