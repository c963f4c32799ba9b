package renewer

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestNeedsRenewal(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		now      time.Time
		life     time.Duration
		renewBef time.Duration
		want     bool
	}{
		{"fresh 395-day certificate", t0.Add(10 * day), 395 * day, 45 * day, false},
		{"46 days left", t0.Add(349 * day), 395 * day, 45 * day, false},
		{"exactly 45 days left", t0.Add(350 * day), 395 * day, 45 * day, true},
		{"30 days left", t0.Add(365 * day), 395 * day, 45 * day, true},
		{"expired", t0.Add(400 * day), 395 * day, 45 * day, true},
		{"30-day certificate, 16 days left: half its life caps the window", t0.Add(14 * day), 30 * day, 45 * day, false},
		{"30-day certificate, 14 days left", t0.Add(16 * day), 30 * day, 45 * day, true},
		{"1-hour certificate, 20 minutes left", t0.Add(40 * time.Minute), time.Hour, 45 * day, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRenewal(tc.now, t0, t0.Add(tc.life), tc.renewBef); got != tc.want {
				t.Errorf("NeedsRenewal = %v, want %v", got, tc.want)
			}
		})
	}
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
