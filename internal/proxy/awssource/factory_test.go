package awssource_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/awssource"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// countingPCA answers GetCertificateAuthorityCertificate with a fixed PEM
// and counts calls.
type countingPCA struct {
	calls atomic.Int64
	pem   atomic.Pointer[string]
}

func (c *countingPCA) GetCertificateAuthorityCertificate(context.Context, *acmpca.GetCertificateAuthorityCertificateInput, ...func(*acmpca.Options)) (*acmpca.GetCertificateAuthorityCertificateOutput, error) {
	c.calls.Add(1)
	return &acmpca.GetCertificateAuthorityCertificateOutput{Certificate: aws.String(*c.pem.Load())}, nil
}

func TestFactory(t *testing.T) {
	t.Parallel()
	acmTrust := proxy.CertRef{Trust: &spec.TrustContext{ACM: &spec.ACMTrust{CertificateAuthorityArns: []string{"arn:ca:1", "arn:ca:2"}}}}
	for _, tc := range []struct {
		name     string
		cfg      awssource.Config
		ref      proxy.CertRef
		wantName string
		wantErr  string
	}{
		{"file goes to the fallback", awssource.Config{}, proxy.CertRef{Trust: &spec.TrustContext{File: &spec.FileTrust{CertificateChain: "/ca.pem"}}}, "file:/ca.pem", ""},
		{"acm trust", awssource.Config{PCA: &countingPCA{}}, acmTrust, "acm-pca:arn:ca:1,arn:ca:2", ""},
		{"acm trust without a client", awssource.Config{}, acmTrust, "", "no ACM PCA client"},
		{"acm certificate without a client", awssource.Config{}, proxy.CertRef{Certificate: &spec.ListenerTLSCertificate{ACM: &spec.ACMCertificate{CertificateArn: "arn:c"}}}, "", "no ACM client"},
		{"sds certificate without a client", awssource.Config{}, proxy.CertRef{Certificate: &spec.ListenerTLSCertificate{SDS: &spec.SDSCertificate{SecretName: "gw"}}}, "", "no Secrets Manager client"},
		{"sds trust without a client", awssource.Config{}, proxy.CertRef{Trust: &spec.TrustContext{SDS: &spec.SDSTrust{SecretName: "gw/certificate-chain"}}}, "", "no Secrets Manager client"},
		{"acm trust without ARNs", awssource.Config{PCA: &countingPCA{}}, proxy.CertRef{Trust: &spec.TrustContext{ACM: &spec.ACMTrust{}}}, "", "certificateAuthorityArns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, src, err := awssource.New(tc.cfg).Sources(tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || name != tc.wantName || src == nil {
				t.Fatalf("got %q %v %v, want %q", name, src, err, tc.wantName)
			}
		})
	}
}

// TestIntervalAndExpire checks that a remote source asks its service at
// most once per interval however often it is polled, that Expire forces
// the next check, and that a changed bundle changes the version.
func TestIntervalAndExpire(t *testing.T) {
	t.Parallel()
	k := &countingPCA{}
	ca1, ca2 := selfSignedCA(t), selfSignedCA(t)
	k.pem.Store(&ca1)
	fc := clock.NewFake(time.Now())
	f := awssource.New(awssource.Config{PCA: k, Interval: time.Minute, Clock: fc})
	_, src, err := f.Sources(proxy.CertRef{Trust: &spec.TrustContext{ACM: &spec.ACMTrust{CertificateAuthorityArns: []string{"arn:ca"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v := src.(certsource.Versioner)
	v1, _ := v.Version(ctx)
	if _, err := src.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if got, _ := v.Version(ctx); got != v1 {
			t.Fatal("version changed without a change")
		}
	}
	if n := k.calls.Load(); n != 1 {
		t.Errorf("service called %d times within one interval, want 1 (Load reuses Version's fetch)", n)
	}
	k.pem.Store(&ca2)
	if got, _ := v.Version(ctx); got != v1 {
		t.Error("change seen before the interval passed")
	}
	f.Expire()
	v2, _ := v.Version(ctx)
	if v2 == v1 || k.calls.Load() != 2 {
		t.Errorf("after Expire: version %q (was %q), calls %d", v2, v1, k.calls.Load())
	}
	fc.Add(2 * time.Minute)
	_, _ = v.Version(ctx)
	if k.calls.Load() != 3 {
		t.Errorf("after the interval: calls %d, want 3", k.calls.Load())
	}
	m, err := src.Load(ctx)
	if err != nil || len(m.Roots) != 1 {
		t.Fatalf("Load: %v", err)
	}
}
