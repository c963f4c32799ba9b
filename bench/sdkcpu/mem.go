package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// loadWorkers is how many calls the loader keeps in flight.
const loadWorkers = 16

// loadAndMeasure creates nSecrets 4 KB secrets, nCerts EC P-256 ACM
// certificates issued by one private CA and nKeys KMS keys (every tenth
// RSA_2048, the rest symmetric), uses each once, and prints the server's
// resident set size after each step.
func loadAndMeasure(s *server, nSecrets, nCerts, nKeys int) error {
	ctx := context.Background()
	report := func(step string, took time.Duration) {
		rss, hwm := procRSS(s.cmd.Process.Pid)
		fmt.Printf("%-8s %-44s took %7.1fs  VmRSS %6.1f MiB  VmHWM %6.1f MiB\n", s.name, step, took.Seconds(), rss, hwm)
	}
	report("started", 0)

	sm := secretsmanager.NewFromConfig(s.cfg)
	value := strings.Repeat("0123456789abcdef", 256)
	t := time.Now()
	if err := parallel(nSecrets, func(i int) error {
		_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("mem/secret-" + strconv.Itoa(i)), SecretString: &value})
		return err
	}); err != nil {
		return fmt.Errorf("CreateSecret: %w", err)
	}
	report(fmt.Sprintf("%d secrets created", nSecrets), time.Since(t))
	t = time.Now()
	if err := parallel(nSecrets, func(i int) error {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("mem/secret-" + strconv.Itoa(i))})
		return err
	}); err != nil {
		return fmt.Errorf("GetSecretValue: %w", err)
	}
	report("… each read once", time.Since(t))

	t = time.Now()
	ca, err := activeCA(ctx, acmpca.NewFromConfig(s.cfg))
	if err != nil {
		return err
	}
	am := acm.NewFromConfig(s.cfg)
	arns := make([]string, nCerts)
	if err := parallel(nCerts, func(i int) error {
		out, err := am.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String(fmt.Sprintf("svc-%d.mem.local", i)),
			CertificateAuthorityArn: &ca, KeyAlgorithm: acmtypes.KeyAlgorithmEcPrime256v1})
		if err == nil {
			arns[i] = *out.CertificateArn
		}
		return err
	}); err != nil {
		return fmt.Errorf("RequestCertificate: %w", err)
	}
	report(fmt.Sprintf("%d certificates issued", nCerts), time.Since(t))
	t = time.Now()
	if err := parallel(nCerts, func(i int) error {
		_, err := am.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: &arns[i]})
		return err
	}); err != nil {
		return fmt.Errorf("GetCertificate: %w", err)
	}
	report("… each read once", time.Since(t))

	km := kms.NewFromConfig(s.cfg)
	ids := make([]string, nKeys)
	t = time.Now()
	if err := parallel(nKeys, func(i int) error {
		in := &kms.CreateKeyInput{}
		if i%10 == 0 {
			in.KeySpec, in.KeyUsage = kmstypes.KeySpecRsa2048, kmstypes.KeyUsageTypeEncryptDecrypt
		}
		out, err := km.CreateKey(ctx, in)
		if err == nil {
			ids[i] = *out.KeyMetadata.KeyId
		}
		return err
	}); err != nil {
		return fmt.Errorf("CreateKey: %w", err)
	}
	report(fmt.Sprintf("%d KMS keys created (1 in 10 RSA_2048)", nKeys), time.Since(t))
	t = time.Now()
	if err := parallel(nKeys, func(i int) error {
		in := &kms.EncryptInput{KeyId: &ids[i], Plaintext: []byte("hello")}
		if i%10 == 0 {
			in.EncryptionAlgorithm = kmstypes.EncryptionAlgorithmSpecRsaesOaepSha256
		}
		_, err := km.Encrypt(ctx, in)
		return err
	}); err != nil {
		return fmt.Errorf("Encrypt: %w", err)
	}
	report("… each used once (Encrypt)", time.Since(t))
	return nil
}

// activeCA creates a root CA (EC P-256) and installs its self-signed
// certificate, as the ACM PCA console does.
func activeCA(ctx context.Context, pca *acmpca.Client) (string, error) {
	sig := pcatypes.SigningAlgorithmSha256withecdsa
	out, err := pca.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: sig,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("sdkcpu memory root")}},
	})
	if err != nil {
		return "", fmt.Errorf("CreateCertificateAuthority: %w", err)
	}
	arn := *out.CertificateAuthorityArn
	csr, err := pca.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: &arn})
	if err != nil {
		return "", fmt.Errorf("GetCertificateAuthorityCsr: %w", err)
	}
	iss, err := pca.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: &arn, Csr: []byte(*csr.Csr), SigningAlgorithm: sig,
		TemplateArn: aws.String("arn:aws:acm-pca:::template/RootCACertificate/V1"),
		Validity:    &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeYears, Value: aws.Int64(10)}})
	if err != nil {
		return "", fmt.Errorf("IssueCertificate: %w", err)
	}
	var cert *acmpca.GetCertificateOutput
	for range 100 {
		if cert, err = pca.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &arn, CertificateArn: iss.CertificateArn}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return "", fmt.Errorf("GetCertificate: %w", err)
	}
	if _, err := pca.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: &arn, Certificate: []byte(*cert.Certificate)}); err != nil {
		return "", fmt.Errorf("ImportCertificateAuthorityCertificate: %w", err)
	}
	return arn, nil
}

// parallel runs fn(0..n-1) on loadWorkers goroutines and returns the
// first error.
func parallel(n int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// procRSS returns VmRSS and VmHWM of pid in MiB.
func procRSS(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
