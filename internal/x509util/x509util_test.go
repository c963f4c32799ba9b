package x509util_test

import (
	"errors"
	"math/big"
	"testing"

	"github.com/bulwarkd/bulwark/internal/x509util"
)

func TestLookupTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		wantCA, api bool
		pathLen     int
		wantErr     bool
	}{
		{"default", "", false, false, -1, false},
		{"ARN", "arn:aws:acm-pca:::template/EndEntityServerAuthCertificate/V1", false, false, -1, false},
		{"subordinate pathlen 2", "SubordinateCACertificate_PathLen2/V1", true, false, 2, false},
		{"API passthrough", "EndEntityCertificate_APIPassthrough/V1", false, true, -1, false},
		{"blank needs passthrough", "BlankEndEntityCertificate/V1", false, false, -1, true},
		{"blank passthrough", "BlankEndEntityCertificate_APICSRPassthrough/V1", false, true, -1, false},
		{"unknown", "Nope/V1", false, false, 0, true},
		{"no version", "EndEntityCertificate", false, false, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := x509util.LookupTemplate(tc.in)
			if tc.wantErr {
				if !errors.Is(err, x509util.ErrUnknownTemplate) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || tm.CA != tc.wantCA || tm.APIPassthrough != tc.api || tm.PathLen != tc.pathLen {
				t.Fatalf("%+v, %v", tm, err)
			}
		})
	}
}

func TestSerials(t *testing.T) {
	t.Parallel()
	n, _ := new(big.Int).SetString("0a1b2c", 16)
	if got := x509util.ColonSerial(n); got != "0a:1b:2c" {
		t.Errorf("ColonSerial = %q", got)
	}
	for _, in := range []string{"0a:1b:2c", "A1B2C", "a1b2c"} {
		got, err := x509util.ParseSerial(in)
		if err != nil || (got != "a1b2c") {
			t.Errorf("ParseSerial(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "xyz", "0"} {
		if _, err := x509util.ParseSerial(bad); err == nil {
			t.Errorf("ParseSerial(%q) accepted", bad)
		}
	}
	s, err := x509util.NewSerial(zeroReader{})
	if err != nil || s.Sign() <= 0 || len(s.Bytes()) != 20 {
		t.Errorf("NewSerial: %v %v", s, err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
