package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/store/postgres/pgtest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

const sharedMasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// startReplicas runs n dev servers on one new PostgreSQL database with one
// master key, as replicas behind a load balancer would be.
func startReplicas(t *testing.T, n int) []*proc {
	t.Helper()
	dsn := pgtest.DSN(t)
	t.Setenv("BULWARK_MASTER_KEY", sharedMasterKey)
	var out []*proc
	for i := 0; i < n; i++ {
		out = append(out, startDev(t, t.TempDir(), "--storage", dsn))
	}
	return out
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestReplicasShareIAMState: what one writes, the other serves, and a key
// deleted on one stops working on the other at once.
func TestReplicasShareIAMState(t *testing.T) {
	r := startReplicas(t, 2)
	a, b := r[0], r[1]
	ctx := ctxT(t)
	ia, ib := iam.NewFromConfig(a.awsConfig()), iam.NewFromConfig(b.awsConfig())
	if _, err := ia.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	key, err := ia.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("shared")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ib.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("shared")}); err != nil {
		t.Fatalf("replica b does not see the user created on a: %v", err)
	}
	cfg := b.awsConfig()
	cfg.Credentials = staticCreds(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey))
	userOnB := sts.NewFromConfig(cfg)
	if _, err := userOnB.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("key made on a refused by b: %v", err)
	}
	if _, err := ia.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("shared"), AccessKeyId: key.AccessKey.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	// Replica b caches the key for at most iam.DefaultCacheTTL (1 s).
	start := time.Now()
	testwait.For(t, 2*time.Second, "replica b to refuse a key deleted on replica a (documented bound: 1 s)", func() bool {
		_, err := userOnB.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return code(err) == "InvalidClientTokenId"
	})
	t.Logf("replica b refused the deleted key after %v", time.Since(start).Round(time.Millisecond))
}

// TestReplicasSecretVersionStages: concurrent PutSecretValue on one secret
// through two replicas leaves exactly one AWSCURRENT and one AWSPREVIOUS,
// and every acknowledged version; a token sent to both is one version.
func TestReplicasSecretVersionStages(t *testing.T) {
	r := startReplicas(t, 2)
	ctx := ctxT(t)
	clients := []*secretsmanager.Client{secretsmanager.NewFromConfig(r[0].awsConfig()), secretsmanager.NewFromConfig(r[1].awsConfig())}
	created, err := clients[0].CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("race"), SecretString: aws.String("v0")})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				out, err := clients[w%2].PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: created.ARN, SecretString: aws.String(fmt.Sprintf("v-%d-%d", w, i))})
				if err != nil {
					t.Errorf("put through replica %d: %v", w%2, err)
					return
				}
				mu.Lock()
				acked[aws.ToString(out.VersionId)] = true
				mu.Unlock()
			}
		}(w)
	}
	// The same client token through both replicas at once.
	token := "11111111-2222-3333-4444-555555555555"
	for _, c := range clients {
		wg.Add(1)
		go func(c *secretsmanager.Client) {
			defer wg.Done()
			if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: created.ARN, ClientRequestToken: aws.String(token), SecretString: aws.String("same")}); err != nil {
				t.Errorf("idempotent put: %v", err)
			}
		}(c)
	}
	wg.Wait()
	desc, err := clients[1].DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: created.ARN})
	if err != nil {
		t.Fatal(err)
	}
	current, previous := 0, 0
	for id, stages := range desc.VersionIdsToStages {
		for _, s := range stages {
			switch s {
			case "AWSCURRENT":
				current++
			case "AWSPREVIOUS":
				previous++
			}
		}
		delete(acked, id)
	}
	if current != 1 || previous != 1 {
		t.Errorf("%d AWSCURRENT and %d AWSPREVIOUS, want 1 each", current, previous)
	}
	// Versions without a label may be pruned as AWS does; the labelled
	// current one must be among the acknowledged ones.
	got, err := clients[0].GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	if err != nil || !strings.HasPrefix(aws.ToString(got.SecretString), "v-") && aws.ToString(got.SecretString) != "same" {
		t.Errorf("current value %q %v", aws.ToString(got.SecretString), err)
	}
}

// TestReplicasKMSKeyState: a key disabled through one replica is refused
// by the other within the documented bound (KMS caches keys for 1 s).
func TestReplicasKMSKeyState(t *testing.T) {
	r := startReplicas(t, 2)
	ctx := ctxT(t)
	ka, kb := kms.NewFromConfig(r[0].awsConfig()), kms.NewFromConfig(r[1].awsConfig())
	key, err := ka.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kb.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("replica b cannot use a key made on a: %v", err)
	}
	if _, err := ka.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testwait.For(t, 2*time.Second, "replica b to refuse a key disabled on replica a (documented bound: 1 s)", func() bool {
		_, err := kb.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")})
		return code(err) == "DisabledException"
	})
	t.Logf("replica b refused the disabled key after %v", time.Since(start).Round(time.Millisecond))
}

// TestReplicasPrivateCA: certificates issued through two replicas at once
// have unique serials, and a revocation acknowledged by one is in the CRL
// the other serves.
func TestReplicasPrivateCA(t *testing.T) {
	r := startReplicas(t, 2)
	ctx := ctxT(t)
	pa, pb := acmpca.NewFromConfig(r[0].awsConfig()), acmpca.NewFromConfig(r[1].awsConfig())
	ca, err := pa.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
		CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
		CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
			KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
			Subject: &pcatypes.ASN1Subject{CommonName: aws.String("Replica Root")},
		},
		RevocationConfiguration: &pcatypes.RevocationConfiguration{CrlConfiguration: &pcatypes.CrlConfiguration{Enabled: aws.Bool(true), ExpirationInDays: aws.Int32(7)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := ca.CertificateAuthorityArn
	csr, err := pa.GetCertificateAuthorityCsr(ctx, &acmpca.GetCertificateAuthorityCsrInput{CertificateAuthorityArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	rootCert := issueAndGet(t, pa, arn, []byte(aws.ToString(csr.Csr)), "arn:aws:acm-pca:::template/RootCACertificate/V1", 3650)
	if _, err := pa.ImportCertificateAuthorityCertificate(ctx, &acmpca.ImportCertificateAuthorityCertificateInput{CertificateAuthorityArn: arn, Certificate: []byte(rootCert)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	serials := map[string]int{}
	var arns []string
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := []*acmpca.Client{pa, pb}[w%2]
			for i := 0; i < 5; i++ {
				pemCert := issueAndGet(t, c, arn, leafCSR(t, fmt.Sprintf("svc-%d-%d.mesh.local", w, i)), "arn:aws:acm-pca:::template/EndEntityCertificate/V1", 30)
				cert := parsePEM(t, pemCert)
				mu.Lock()
				serials[cert.SerialNumber.Text(16)]++
				if len(arns) < 2 {
					arns = append(arns, cert.SerialNumber.Text(16))
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	for s, n := range serials {
		if n != 1 {
			t.Errorf("serial %s issued %d times", s, n)
		}
	}
	if len(serials) != 30 {
		t.Errorf("%d distinct serials, want 30", len(serials))
	}
	// Revoke through b; the CRL served by a lists it.
	for _, serial := range arns {
		if _, err := pb.RevokeCertificate(ctx, &acmpca.RevokeCertificateInput{CertificateAuthorityArn: arn, CertificateSerial: aws.String(colonHex(serial)), RevocationReason: pcatypes.RevocationReasonKeyCompromise}); err != nil {
			t.Fatalf("revoke %s: %v", serial, err)
		}
	}
	id := aws.ToString(arn)[strings.LastIndex(aws.ToString(arn), "/")+1:]
	resp, err := http.Get(r[0].endpoint + "/crl/" + id + ".crl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, _ := io.ReadAll(resp.Body)
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("CRL from replica a: %v (%d %q)", err, resp.StatusCode, der)
	}
	listed := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		listed[e.SerialNumber.Text(16)] = true
	}
	for _, s := range arns {
		if !listed[s] {
			t.Errorf("serial %s revoked through replica b is missing from replica a's CRL", s)
		}
	}
}

func colonHex(hexSerial string) string {
	if len(hexSerial)%2 == 1 {
		hexSerial = "0" + hexSerial
	}
	var parts []string
	for i := 0; i < len(hexSerial); i += 2 {
		parts = append(parts, hexSerial[i:i+2])
	}
	return strings.Join(parts, ":")
}

func leafCSR(t *testing.T, name string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pemEncode("CERTIFICATE REQUEST", der)
}

func issueAndGet(t *testing.T, c *acmpca.Client, ca *string, csr []byte, template string, days int64) string {
	t.Helper()
	ctx := ctxT(t)
	out, err := c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{CertificateAuthorityArn: ca, Csr: csr, TemplateArn: aws.String(template),
		SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa, Validity: &pcatypes.Validity{Type: pcatypes.ValidityPeriodTypeDays, Value: aws.Int64(days)}})
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	var pem string
	if !testwait.Until(0, func() bool {
		var got *acmpca.GetCertificateOutput
		got, err = c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: ca, CertificateArn: out.CertificateArn})
		if err != nil {
			return false
		}
		pem = aws.ToString(got.Certificate)
		return true
	}) {
		t.Fatalf("get certificate: %v", err)
	}
	return pem
}

// TestReplicaKilledMidLoad: clients spread writes over two replicas; one is
// SIGKILLed; retries against the other succeed, and every acknowledged
// write is there afterwards.
func TestReplicaKilledMidLoad(t *testing.T) {
	r := startReplicas(t, 2)
	ctx := ctxT(t)
	clients := []*iam.Client{iam.NewFromConfig(r[0].awsConfig()), iam.NewFromConfig(r[1].awsConfig())}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	killed := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				name := fmt.Sprintf("kill-%d-%d", w, i)
				// Try the replica this worker prefers, then fail over: a
				// load balancer's retry.
				var err error
				for _, c := range []*iam.Client{clients[(w+i)%2], clients[(w+i+1)%2]} {
					if _, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err == nil || code(err) == "EntityAlreadyExists" {
						err = nil
						break
					}
				}
				if err != nil {
					t.Errorf("%s failed on both replicas: %v", name, err)
					return
				}
				mu.Lock()
				acked = append(acked, name)
				n := len(acked)
				mu.Unlock()
				if n == 80 {
					_ = r[0].cmd.Process.Signal(syscall.SIGKILL)
					close(killed)
				}
			}
		}(w)
	}
	wg.Wait()
	<-killed
	have := map[string]bool{}
	pager := iam.NewListUsersPaginator(clients[1], &iam.ListUsersInput{})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Users {
			have[aws.ToString(u.UserName)] = true
		}
	}
	for _, name := range acked {
		if !have[name] {
			t.Errorf("acknowledged user %s lost", name)
		}
	}
	// Each replica's audit log is a valid chain, the killed one included.
	for _, p := range r {
		if out, err := exec.Command(binary, "audit", "verify", filepath.Join(p.dataDir, "audit.log")).CombinedOutput(); err != nil {
			t.Errorf("audit log of %s: %s", p.endpoint, out)
		}
	}
}

// TestPostgresRestartUnderLoad: while PostgreSQL is down requests fail with
// a retryable 5xx; afterwards they succeed again with nothing lost.
func TestPostgresRestartUnderLoad(t *testing.T) {
	r := startReplicas(t, 1)
	ctx := ctxT(t)
	c := iam.NewFromConfig(r[0].awsConfig())
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("before")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var codes sync.Map
	go func() {
		defer close(done)
		for i := 0; i < 400; i++ {
			_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(fmt.Sprintf("during-%d", i))})
			var re interface{ HTTPStatusCode() int }
			if err != nil && errors.As(err, &re) {
				codes.Store(fmt.Sprintf("%s/%d", code(err), re.HTTPStatusCode()), true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	pgtest.Restart(t, 500*time.Millisecond)
	<-done
	codes.Range(func(k, _ any) bool {
		if !strings.HasSuffix(k.(string), "/503") {
			t.Errorf("an error while PostgreSQL was down was not a retryable 503: %s", k)
		}
		return true
	})
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("after")}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if _, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("before")}); err != nil {
		t.Fatalf("data from before the restart: %v", err)
	}
}
