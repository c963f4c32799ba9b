package certsync_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/certsync/certsynctest"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

type fixture struct {
	srv  *servertest.Server
	pki  *certsynctest.PKI
	acm  *acm.Client
	sm   *secretsmanager.Client
	cert string
}

func newFixture(t *testing.T, ec bool) *fixture {
	t.Helper()
	srv := servertest.Start(t)
	cfg := srv.AWSConfig()
	pki := certsynctest.NewPKI(t, cfg, "Gateway", ec)
	return &fixture{srv: srv, pki: pki, acm: acm.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg),
		cert: pki.Request(t, cfg, "colorgateway.mesh.local", "")}
}

func (f *fixture) export(t *testing.T, prefix string) *certsync.ExportResult {
	t.Helper()
	res, err := certsync.Export(context.Background(), f.acm, f.sm, certsync.ExportInput{CertificateARN: f.cert, SecretPrefix: prefix})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return res
}

func (f *fixture) renew(t *testing.T) {
	t.Helper()
	if _, err := f.acm.RenewCertificate(context.Background(), &acm.RenewCertificateInput{CertificateArn: &f.cert}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) secret(t *testing.T, name string) string {
	t.Helper()
	out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &name})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.SecretString)
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// pemBody returns a run of base64 from the middle of a PEM block: what a
// leak of that block would contain in any log line.
func pemBody(t *testing.T, p string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatalf("not PEM")
	}
	lines := strings.Split(strings.TrimSpace(p), "\n")
	return lines[len(lines)/2]
}

// TestExportFetchVerifyNoLeak exports a certificate, fetches it to disk and
// has openssl verify the chain and the key; re-exporting writes nothing;
// neither the passphrase nor the key (encrypted or not) reaches the log
// or the server's audit log.
func TestExportFetchVerifyNoLeak(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	first := f.export(t, "gw")
	if !first.Written {
		t.Fatal("first export wrote nothing")
	}
	again := f.export(t, "gw")
	if again.Written || again.VersionID != first.VersionID {
		t.Fatalf("re-export = %+v, want no write at version %s", again, first.VersionID)
	}
	versions, err := f.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("gw/private-key")})
	if err != nil || len(versions.Versions) != 1 {
		t.Fatalf("private-key versions = %d (%v), want 1", len(versions.Versions), err)
	}

	dir := t.TempDir()
	var logs bytes.Buffer
	w := &certsync.Watcher{Secrets: f.sm, Prefix: "gw", Writer: &certsync.Writer{Dir: dir},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if changed, err := w.Sync(ctx); err != nil || !changed {
		t.Fatalf("sync = %v, %v", changed, err)
	}
	root := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(root, []byte(f.pki.RootPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, chain, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	if out := openssl(t, "verify", "-CAfile", root, "-untrusted", chain, cert); !strings.Contains(out, "OK") {
		t.Errorf("openssl verify: %s", out)
	}
	if a, b := openssl(t, "pkey", "-in", key, "-pubout"), openssl(t, "x509", "-in", cert, "-noout", "-pubkey"); a != b {
		t.Errorf("key.pem's public key differs from cert.pem's:\n%s\n%s", a, b)
	}
	if serial := openssl(t, "x509", "-in", cert, "-noout", "-serial"); !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(serial, "serial=")), strings.ReplaceAll(first.Serial, ":", "")) {
		t.Errorf("cert.pem serial %s, exported %s", serial, first.Serial)
	}
	for name, want := range map[string]os.FileMode{"cert.pem": 0o644, "chain.pem": 0o644, "key.pem": 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s mode = %v (%v), want %v", name, st.Mode().Perm(), err, want)
		}
	}

	passphrase := f.secret(t, "gw/passphrase")
	keyPEM, _ := os.ReadFile(key)
	secrets := map[string]string{
		"passphrase":    passphrase,
		"encrypted key": pemBody(t, f.secret(t, "gw/private-key")),
		"decrypted key": pemBody(t, string(keyPEM)),
	}
	audit, err := os.ReadFile(filepath.Join(f.srv.DataDir, "audit.log"))
	if err != nil || len(audit) == 0 {
		t.Fatalf("audit log: %v", err)
	}
	for what, s := range secrets {
		if bytes.Contains(audit, []byte(s)) {
			t.Errorf("the audit log contains the %s", what)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("the fetch log contains the %s", what)
		}
	}
	if !strings.Contains(logs.String(), first.Serial) {
		t.Errorf("the fetch log does not say which serial it wrote: %s", logs.String())
	}
}

// TestCrashMidWriteLeavesCompleteSet writes set A, then set B with a
// failure injected after each step of the writer, and checks that the
// files a reader finds are all A (or, past the swap, all B), never a mix.
func TestCrashMidWriteLeavesCompleteSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := context.Background()
	f.export(t, "gw")
	a, err := certsync.Fetch(ctx, f.sm, "gw")
	if err != nil {
		t.Fatal(err)
	}
	f.renew(t)
	f.export(t, "gw")
	b, err := certsync.Fetch(ctx, f.sm, "gw")
	if err != nil {
		t.Fatal(err)
	}
	if a.Serial == b.Serial {
		t.Fatal("renewal kept the serial")
	}
	injected := errors.New("injected crash")
	for _, tc := range []struct {
		step string
		want *certsync.Bundle
	}{
		{"cert.pem", a}, {"chain.pem", a}, {"key.pem", a}, {"before-swap", a}, {"after-swap", b},
	} {
		t.Run("crash after "+tc.step, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := (&certsync.Writer{Dir: dir}).Write(a); err != nil {
				t.Fatal(err)
			}
			w := &certsync.Writer{Dir: dir}
			certsync.SetFailpoint(w, func(step string) error {
				if step == tc.step {
					return injected
				}
				return nil
			})
			if _, err := w.Write(b); !errors.Is(err, injected) {
				t.Fatalf("write = %v, want the injected crash", err)
			}
			checkSet(t, dir, tc.want)
			// The next write (the restarted fetch) completes and cleans up.
			if _, err := (&certsync.Writer{Dir: dir}).Write(b); err != nil {
				t.Fatal(err)
			}
			checkSet(t, dir, b)
			entries, _ := os.ReadDir(dir)
			var vdirs int
			for _, e := range entries {
				if e.IsDir() {
					vdirs++
				}
			}
			if vdirs > 2 {
				t.Errorf("%d version directories left, want at most 2", vdirs)
			}
		})
	}
}

// checkSet reads the three files through the fixed paths and through
// ReadCurrent and wants exactly the bundle want.
func checkSet(t *testing.T, dir string, want *certsync.Bundle) {
	t.Helper()
	for name, data := range map[string][]byte{"cert.pem": want.CertPEM, "chain.pem": want.ChainPEM, "key.pem": want.KeyPEM} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s is not the expected set's (%v)", name, err)
		}
	}
	c, ch, k, err := certsync.ReadCurrent(dir)
	if err != nil || !bytes.Equal(c, want.CertPEM) || !bytes.Equal(ch, want.ChainPEM) || !bytes.Equal(k, want.KeyPEM) {
		t.Errorf("ReadCurrent does not return the expected set (%v)", err)
	}
}

// TestReadersNeverSeeAMix swaps two sets many times while readers read
// through ReadCurrent; every read must be one complete set.
func TestReadersNeverSeeAMix(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := context.Background()
	f.export(t, "gw")
	a, _ := certsync.Fetch(ctx, f.sm, "gw")
	f.renew(t)
	f.export(t, "gw")
	b, _ := certsync.Fetch(ctx, f.sm, "gw")
	dir := t.TempDir()
	w := &certsync.Writer{Dir: dir}
	if _, err := w.Write(a); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads, mixes atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c, _, k, err := certsync.ReadCurrent(dir)
				if err != nil {
					continue // the version dir was pruned between readlink and open: retry
				}
				reads.Add(1)
				if !(bytes.Equal(c, a.CertPEM) && bytes.Equal(k, a.KeyPEM)) && !(bytes.Equal(c, b.CertPEM) && bytes.Equal(k, b.KeyPEM)) {
					mixes.Add(1)
				}
			}
		}()
	}
	for i := range 100 {
		set := a
		if i%2 == 0 {
			set = b
		}
		if _, err := w.Write(set); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if mixes.Load() != 0 || reads.Load() == 0 {
		t.Fatalf("%d of %d reads saw a mix of two sets", mixes.Load(), reads.Load())
	}
}

// TestChildEnvironment starts the command fetch runs and checks what its
// environment holds: never the passphrase or key, AWS credentials only
// unless dropped.
func TestChildEnvironment(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := context.Background()
	f.export(t, "gw")
	b, err := certsync.Fetch(ctx, f.sm, "gw")
	if err != nil {
		t.Fatal(err)
	}
	passphrase := f.secret(t, "gw/passphrase")
	// The environment fetch itself runs with (credentials for the API).
	parent := append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY=example-secret", "APP_MODE=mtls")
	for _, tc := range []struct {
		name      string
		opts      certsync.EnvOptions
		wantCreds bool
	}{
		{"credentials passed through by default", certsync.EnvOptions{}, true},
		{"credentials dropped on request", certsync.EnvOptions{DropAWSCredentials: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "env")
			child, err := certsync.StartChild([]string{"/bin/sh", "-c", "env > " + out}, certsync.ChildEnv(parent, tc.opts), nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if code, err := child.Wait(); code != 0 || err != nil {
				t.Fatalf("child = %d, %v", code, err)
			}
			env, _ := os.ReadFile(out)
			for what, s := range map[string]string{"passphrase": passphrase, "key": pemBody(t, string(b.KeyPEM))} {
				if bytes.Contains(env, []byte(s)) {
					t.Errorf("the child's environment contains the %s", what)
				}
			}
			if !bytes.Contains(env, []byte("APP_MODE=mtls")) {
				t.Error("ordinary variables are not passed through")
			}
			if got := bytes.Contains(env, []byte("AWS_SECRET_ACCESS_KEY=")); got != tc.wantCreds {
				t.Errorf("AWS credentials in the child's environment: %v, want %v", got, tc.wantCreds)
			}
		})
	}
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprint(err)
}

// TestLeastPrivilege gives a proxy FetchPolicy and an exporter
// ExportPolicy: the proxy reads its own secrets and nothing else; the
// exporter writes new versions but cannot read a secret value.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := context.Background()
	other := f.pki.Request(t, f.srv.AWSConfig(), "colorteller.mesh.local", "")
	if _, err := certsync.Export(ctx, f.acm, f.sm, certsync.ExportInput{CertificateARN: other, SecretPrefix: "teller"}); err != nil {
		t.Fatal(err)
	}
	user := func(name, policy string) (*acm.Client, *secretsmanager.Client) {
		iam := f.srv.IAM()
		if _, err := iam.CreateUser(ctx, name, "/", nil); err != nil {
			t.Fatal(err)
		}
		if err := iam.PutUserPolicy(ctx, name, "least", policy); err != nil {
			t.Fatal(err)
		}
		id, secret, err := iam.CreateAccessKey(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.srv.AWSConfigFor(id.AccessKeyID, secret)
		return acm.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)
	}
	const partition, region, account = "aws", servertest.Region, servertest.AccountID
	expACM, expSM := user("exporter", certsync.ExportPolicy(partition, region, account, []string{f.cert}, []string{"gw"}))
	_, gwSM := user("gateway", certsync.FetchPolicy(partition, region, account, "gw"))

	res, err := certsync.Export(ctx, expACM, expSM, certsync.ExportInput{CertificateARN: f.cert, SecretPrefix: "gw"})
	if err != nil || !res.Written {
		t.Fatalf("exporter's export = %+v, %v", res, err)
	}
	f.renew(t)
	res, err = certsync.Export(ctx, expACM, expSM, certsync.ExportInput{CertificateARN: f.cert, SecretPrefix: "gw"})
	if err != nil || !res.Written {
		t.Fatalf("exporter's export after renewal = %+v, %v", res, err)
	}
	b, err := certsync.Fetch(ctx, gwSM, "gw")
	if err != nil {
		t.Fatalf("gateway fetch: %v", err)
	}
	if b.Serial != res.Serial || b.VersionID != res.VersionID {
		t.Errorf("gateway fetched %s@%s, want the renewed %s@%s", b.Serial, b.VersionID, res.Serial, res.VersionID)
	}

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"exporter reads the passphrase", func() error {
			_, err := expSM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("gw/passphrase")})
			return err
		}},
		{"exporter reads the private key", func() error {
			_, err := expSM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("gw/private-key")})
			return err
		}},
		{"exporter exports another certificate", func() error {
			_, err := certsync.Export(ctx, expACM, expSM, certsync.ExportInput{CertificateARN: other, SecretPrefix: "gw"})
			return err
		}},
		{"exporter writes another prefix", func() error {
			_, err := expSM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("teller/certificate"), SecretString: aws.String("x")})
			return err
		}},
		{"gateway fetches another prefix", func() error {
			_, err := certsync.Fetch(ctx, gwSM, "teller")
			return err
		}},
		{"gateway describes its own secret", func() error {
			_, err := gwSM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("gw/certificate")})
			return err
		}},
		{"gateway writes its own secret", func() error {
			_, err := gwSM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("gw/certificate"), SecretString: aws.String("x")})
			return err
		}},
		{"gateway lists secrets", func() error {
			_, err := gwSM.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
			return err
		}},
	} {
		if code := errCode(tc.call()); code != "AccessDeniedException" {
			t.Errorf("%s: %s, want AccessDeniedException", tc.name, code)
		}
	}
}
