package renewer

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// backdate is what the CA subtracts from NotBefore (pca.Backdate).
const backdate = time.Hour

// issued returns the validity of a certificate issued at t for life, as
// the CA makes it: NotBefore back-dated an hour.
func issued(t time.Time, life time.Duration) Validity {
	return Validity{IssuedAt: t, NotBefore: t.Add(-backdate), NotAfter: t.Add(life)}
}

func TestNeedsRenewal(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		now      time.Time
		v        Validity
		renewBef time.Duration
		want     bool
	}{
		{"fresh 395-day certificate", t0.Add(10 * day), issued(t0, 395*day), 45 * day, false},
		{"46 days left", t0.Add(349 * day), issued(t0, 395*day), 45 * day, false},
		{"exactly 45 days left", t0.Add(350 * day), issued(t0, 395*day), 45 * day, true},
		{"30 days left", t0.Add(365 * day), issued(t0, 395*day), 45 * day, true},
		{"expired", t0.Add(400 * day), issued(t0, 395*day), 45 * day, true},
		{"30-day certificate, 16 days left: half its life caps the window", t0.Add(14 * day), issued(t0, 30*day), 45 * day, false},
		{"30-day certificate, 14 days left", t0.Add(16 * day), issued(t0, 30*day), 45 * day, true},
		// The storm of issue 14: lifetimes at or under the back-date were
		// due the moment they were issued.
		{"1-hour certificate just issued", t0, issued(t0, time.Hour), 45 * day, false},
		{"1-hour certificate, 31 minutes left", t0.Add(29 * time.Minute), issued(t0, time.Hour), 45 * day, false},
		{"1-hour certificate, 30 minutes left", t0.Add(30 * time.Minute), issued(t0, time.Hour), 45 * day, true},
		{"3-minute certificate just issued", t0, issued(t0, 3*time.Minute), 45 * day, false},
		{"3-minute certificate, 91 s left", t0.Add(89 * time.Second), issued(t0, 3*time.Minute), 45 * day, false},
		{"3-minute certificate, 90 s left", t0.Add(90 * time.Second), issued(t0, 3*time.Minute), 45 * day, true},
		{"2-minute certificate just issued", t0, issued(t0, 2*time.Minute), 45 * day, false},
		{"2-minute certificate, 59 s in", t0.Add(59 * time.Second), issued(t0, 2*time.Minute), 45 * day, false},
		{"2-minute certificate, 60 s in", t0.Add(time.Minute), issued(t0, 2*time.Minute), 45 * day, true},
		{"no IssuedAt (imported): NotBefore is the start", t0.Add(14 * day), Validity{NotBefore: t0, NotAfter: t0.Add(30 * day)}, 45 * day, false},
		{"IssuedAt before a future NotBefore: NotBefore is the start", t0.Add(16 * day), Validity{IssuedAt: t0.Add(-10 * day), NotBefore: t0, NotAfter: t0.Add(30 * day)}, 45 * day, true},
		{"NotAfter before IssuedAt: due (expired)", t0, Validity{IssuedAt: t0, NotBefore: t0.Add(-backdate), NotAfter: t0.Add(-time.Minute)}, 45 * day, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRenewal(tc.now, tc.v, tc.renewBef); got != tc.want {
				t.Errorf("NeedsRenewal = %v, want %v (window %v)", got, tc.want, RenewalWindow(tc.v, tc.renewBef))
			}
		})
	}
}

// TestGuard drives the guard rails with an injected clock: one renewal
// per certificate per window, a young certificate is never renewed, and
// the global bucket refills at its rate.
func TestGuard(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rb := 45 * 24 * time.Hour
	t.Run("per certificate", func(t *testing.T) {
		g := newGuard(1000, 30*time.Second, t0)
		old := issued(t0.Add(-2*time.Minute), 3*time.Minute)
		if got := g.admit("a", t0, old); got != "" {
			t.Fatalf("first renewal refused by %s", got)
		}
		fresh := issued(t0, 3*time.Minute) // window 90 s
		g.renewed("a", t0, fresh, rb)
		for _, d := range []time.Duration{0, 30 * time.Second, 89 * time.Second} {
			if got := g.admit("a", t0.Add(d), old); got != GuardPerCertificate {
				t.Errorf("%v after a renewal: guard %q, want %s", d, got, GuardPerCertificate)
			}
		}
		if got := g.admit("b", t0, issued(t0.Add(-time.Hour), 2*time.Hour)); got != "" {
			t.Errorf("another certificate refused by %s", got)
		}
		if got := g.admit("a", t0.Add(90*time.Second), fresh); got != "" {
			t.Errorf("a window after the renewal: refused by %s", got)
		}
	})
	t.Run("young certificate after a restart", func(t *testing.T) {
		g := newGuard(1000, 30*time.Second, t0)
		if got := g.admit("a", t0.Add(10*time.Second), issued(t0, time.Minute)); got != GuardPerCertificate {
			t.Errorf("certificate issued 10 s ago: guard %q, want %s", got, GuardPerCertificate)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		g := newGuard(3, time.Second, t0)
		v := issued(t0.Add(-time.Hour), time.Hour)
		for i := range 3 {
			if got := g.admit(string(rune('a'+i)), t0, v); got != "" {
				t.Fatalf("renewal %d refused by %s", i, got)
			}
		}
		if got := g.admit("d", t0, v); got != GuardRateLimit {
			t.Fatalf("fourth renewal in a minute: guard %q, want %s", got, GuardRateLimit)
		}
		if got := g.admit("d", t0.Add(20*time.Second), v); got != "" {
			t.Errorf("a third of a minute later (one token): refused by %s", got)
		}
		if got := g.admit("e", t0.Add(20*time.Second), v); got != GuardRateLimit {
			t.Errorf("bucket empty again: guard %q", got)
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	key := Auth{HeaderName: "x-api-key", HeaderValue: "0123456789abcdef-key"}
	basic := Auth{Username: "eventbridge", Password: "0123456789abcdef-pw"}
	for _, tc := range []struct {
		name    string
		auth    Auth
		header  map[string]string
		user    string
		pass    string
		allowed bool
	}{
		{"key accepted", key, map[string]string{"X-Api-Key": key.HeaderValue}, "", "", true},
		{"no key", key, nil, "", "", false},
		{"wrong key", key, map[string]string{"X-Api-Key": "0123456789abcdef-kez"}, "", "", false},
		{"key prefix", key, map[string]string{"X-Api-Key": "0123456789abcdef"}, "", "", false},
		{"basic accepted", basic, nil, "eventbridge", basic.Password, true},
		{"basic wrong password", basic, nil, "eventbridge", "nope-nope-nope-nope", false},
		{"basic wrong user", basic, nil, "other", basic.Password, false},
		{"basic missing", basic, nil, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if tc.user != "" {
				r.SetBasicAuth(tc.user, tc.pass)
			}
			if got := tc.auth.check(r); got != tc.allowed {
				t.Errorf("check = %v, want %v", got, tc.allowed)
			}
		})
	}
	for _, bad := range []Auth{{}, {HeaderName: "x-api-key", HeaderValue: "short"}, {HeaderName: "x", HeaderValue: "0123456789abcdef", Username: "u", Password: "0123456789abcdef"}} {
		if bad.validate() == nil {
			t.Errorf("%+v accepted as configuration", bad)
		}
	}
}

// TestMetricNames: metric names are API; changing one breaks dashboards
// and alerts, so it must be a deliberate edit of this list and the docs.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	mfs, err := newMetrics().reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
	}
	want := []string{MetricExports, MetricFailures, MetricGuardTrips, MetricRenewals}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("metrics %v, want %v", got, want)
	}
	if want[0] != "bulwark_renewer_exports_total" || want[1] != "bulwark_renewer_failures_total" ||
		want[2] != "bulwark_renewer_guard_trips_total" || want[3] != "bulwark_renewer_renewals_total" {
		t.Errorf("metric constants renamed: %v", want)
	}
}
