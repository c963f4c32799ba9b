package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to read raw rows

	"github.com/bulwarkd/bulwark/internal/seal"
	"github.com/bulwarkd/bulwark/internal/store/postgres/pgtest"
)

// rotatedMasterKey is the key rotated to; sharedMasterKey the one before.
const rotatedMasterKey = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

func keyID(t *testing.T, b64 string) string {
	t.Helper()
	k, err := seal.KeyFromBase64(b64)
	if err != nil {
		t.Fatal(err)
	}
	id, err := seal.MasterKeyID(k)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%08x", id)
}

// sealedKeyIDs counts the stored secrets by the key id bytes of their
// sealed header (byte 0 is the format, bytes 1–4 the key id), read straight
// from the database as an operator would check it.
func sealedKeyIDs(t *testing.T, dsn string) map[string]int {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT encode(substring(secret from 2 for 4), 'hex'), count(*) FROM records WHERE secret IS NOT NULL GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	return out
}

func stop(t *testing.T, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.wait(t, 30*time.Second)
	}
}

func bulwark(args ...string) (string, error) {
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}

// TestMasterKeyRotation runs the documented procedure against two replicas
// on PostgreSQL: (a) replicas with the new key current and the old one
// previous read everything; (b) `admin reseal` runs while both take writes
// and loses none; afterwards no stored secret carries the old key id;
// (c) servers with the new key alone read every secret.
func TestMasterKeyRotation(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := ctxT(t)
	oldID, newID := keyID(t, sharedMasterKey), keyID(t, rotatedMasterKey)

	t.Setenv("BULWARK_MASTER_KEY", sharedMasterKey)
	t.Setenv("BULWARK_PREVIOUS_MASTER_KEYS", "")
	first := startDev(t, t.TempDir(), "--storage", dsn)
	const nSecrets = 40
	sm := secretsmanager.NewFromConfig(first.awsConfig())
	want := map[string]string{}
	for i := range nSecrets {
		name := fmt.Sprintf("rot-%02d", i)
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v0-" + name)}); err != nil {
			t.Fatal(err)
		}
		want[name] = "v0-" + name
	}
	km := kms.NewFromConfig(first.awsConfig())
	key, err := km.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := km.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("kms plaintext")})
	if err != nil {
		t.Fatal(err)
	}
	im := iam.NewFromConfig(first.awsConfig())
	if _, err := im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("rotator")}); err != nil {
		t.Fatal(err)
	}
	ak, err := im.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("rotator")})
	if err != nil {
		t.Fatal(err)
	}
	stop(t, first)
	before := sealedKeyIDs(t, dsn)
	if len(before) != 1 || before[oldID] < nSecrets+2 {
		t.Fatalf("before rotation the secrets are sealed under %v; want all under the old key %s", before, oldID)
	}

	// Step (a): every replica restarted with the new key current and the old
	// one previous.
	t.Setenv("BULWARK_MASTER_KEY", rotatedMasterKey)
	t.Setenv("BULWARK_PREVIOUS_MASTER_KEYS", sharedMasterKey)
	r := []*proc{startDev(t, t.TempDir(), "--storage", dsn), startDev(t, t.TempDir(), "--storage", dsn)}
	checkAll := func(p *proc, want map[string]string) {
		t.Helper()
		c := secretsmanager.NewFromConfig(p.awsConfig())
		for name, v := range want {
			got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
			if err != nil || aws.ToString(got.SecretString) != v {
				t.Fatalf("%s through %s: %q %v; want %q", name, p.endpoint, aws.ToString(got.SecretString), err, v)
			}
		}
		dec, err := kms.NewFromConfig(p.awsConfig()).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "kms plaintext" {
			t.Fatalf("KMS decrypt through %s: %q %v", p.endpoint, dec.Plaintext, err)
		}
		cfg := p.awsConfig()
		cfg.Credentials = staticCreds(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
		if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("IAM user's access key through %s: %v", p.endpoint, err)
		}
	}
	checkAll(r[0], want)
	checkAll(r[1], want)
	if out, err := bulwark("admin", "reseal", "--storage", dsn, "--check"); err == nil || !strings.Contains(out, "under a previous key") {
		t.Fatalf("--check before the reseal should fail: %v\n%s", err, out)
	}

	// Step (b): reseal in small batches while both replicas take writes;
	// each writer owns some secrets, so its last acknowledged value is the
	// one that must survive.
	var mu sync.Mutex
	var wg sync.WaitGroup
	stopWriting := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := secretsmanager.NewFromConfig(r[w%2].awsConfig())
			for round := 1; ; round++ {
				for i := w; i < nSecrets; i += 4 {
					select {
					case <-stopWriting:
						return
					default:
					}
					name := fmt.Sprintf("rot-%02d", i)
					v := fmt.Sprintf("v%d-%s", round, name)
					if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(v)}); err != nil {
						t.Errorf("put %s: %v", name, err)
						return
					}
					mu.Lock()
					want[name] = v
					mu.Unlock()
				}
				// New records too, created mid-reseal.
				name := fmt.Sprintf("new-%d-%d", w, round)
				if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(name)}); err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				mu.Lock()
				want[name] = name
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	out, err := bulwark("admin", "reseal", "--storage", dsn, "--batch", "5")
	time.Sleep(200 * time.Millisecond)
	close(stopWriting)
	wg.Wait()
	if err != nil || !strings.Contains(out, "done in") {
		t.Fatalf("reseal: %v\n%s", err, out)
	}
	t.Logf("reseal: %s", strings.TrimSpace(out))
	after := sealedKeyIDs(t, dsn)
	if after[oldID] != 0 || after[newID] < nSecrets+2 {
		t.Fatalf("after the reseal the secrets are sealed under %v; want none under the old key %s", after, oldID)
	}
	if out, err := bulwark("admin", "reseal", "--storage", dsn, "--check"); err != nil || !strings.Contains(out, " 0 under a previous key") {
		t.Fatalf("--check after the reseal: %v\n%s", err, out)
	}
	checkAll(r[1], want)
	stop(t, r...)

	// Step (c): the old key removed everywhere.
	t.Setenv("BULWARK_PREVIOUS_MASTER_KEYS", "")
	last := startDev(t, t.TempDir(), "--storage", dsn)
	checkAll(last, want)
	t.Logf("%d secrets survived the rotation", len(want))
}

// TestAuditVerifyReplicaLogs: `audit verify` takes one log per replica,
// reports each, and fails if any is broken; every acknowledged call is in
// one of the logs.
func TestAuditVerifyReplicaLogs(t *testing.T) {
	r := startReplicas(t, 2)
	ctx := ctxT(t)
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("audited-%d", i)
		if _, err := iam.NewFromConfig(r[i%2].awsConfig()).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	stop(t, r...)
	logs := []string{filepath.Join(r[0].dataDir, "audit.log"), filepath.Join(r[1].dataDir, "audit.log")}
	var all strings.Builder
	for _, l := range logs {
		raw, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(raw)
	}
	for _, n := range names {
		if !strings.Contains(all.String(), `"userName":"`+n+`"`) {
			t.Errorf("acknowledged CreateUser %s is in no replica's log", n)
		}
	}
	out, err := bulwark(append([]string{"audit", "verify"}, logs...)...)
	if err != nil || strings.Count(out, "chain intact") != 2 || !strings.Contains(out, "all 2 logs intact") {
		t.Fatalf("intact logs: %v\n%s", err, out)
	}

	raw, _ := os.ReadFile(logs[1])
	tampered := strings.Replace(string(raw), `"userName":"audited-1"`, `"userName":"audited-9"`, 1)
	if tampered == string(raw) {
		t.Fatal("test could not find the line to tamper with")
	}
	if err := os.WriteFile(logs[1], []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such.log")
	out, err = bulwark("audit", "verify", logs[0], logs[1], missing)
	tests := []struct {
		name, want string
	}{
		{"intact log still reported intact", logs[0] + ": "},
		{"tampered log reported broken", logs[1] + ": chain BROKEN at line"},
		{"missing log reported", missing + ": cannot verify"},
		{"summary", "2 of 3 audit logs failed verification"},
	}
	if err == nil {
		t.Errorf("verify succeeded with a broken log:\n%s", out)
	}
	for _, tc := range tests {
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: output lacks %q:\n%s", tc.name, tc.want, out)
		}
	}
	if !strings.Contains(out, logs[0]+": ") || strings.Contains(out, logs[0]+": chain BROKEN") {
		t.Errorf("the intact log was not reported intact:\n%s", out)
	}
}

// TestMasterKeyRotationSQLite: the same procedure on a single dev server's
// embedded database, with `admin reseal --data-dir`.
func TestMasterKeyRotationSQLite(t *testing.T) {
	dir := t.TempDir()
	ctx := ctxT(t)
	t.Setenv("BULWARK_MASTER_KEY", sharedMasterKey)
	t.Setenv("BULWARK_PREVIOUS_MASTER_KEYS", "")
	p := startDev(t, dir)
	if _, err := secretsmanager.NewFromConfig(p.awsConfig()).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	stop(t, p)
	t.Setenv("BULWARK_MASTER_KEY", rotatedMasterKey)
	steps := []struct {
		name, previous  string
		args            []string
		wantErr         bool
		wantOut, notOut string
	}{
		{"without the old key nothing opens", "", []string{"--check"}, true, "cannot open it", ""},
		// Every record is rewritten (its integrity tag remade), not only
		// the one with a secret.
		{"reseal with the old key as previous", sharedMasterKey, nil, false, "re-sealed", " 0 re-sealed"},
		{"idempotent", sharedMasterKey, nil, false, " 0 re-sealed", ""},
		{"check passes without the old key", "", []string{"--check"}, false, " 0 under a previous key", ""},
	}
	for _, st := range steps {
		t.Setenv("BULWARK_PREVIOUS_MASTER_KEYS", st.previous)
		out, err := bulwark(append([]string{"admin", "reseal", "--data-dir", dir}, st.args...)...)
		if (err != nil) != st.wantErr || !strings.Contains(out, st.wantOut) || (st.notOut != "" && strings.Contains(out, st.notOut)) {
			t.Fatalf("%s: err %v, output lacks %q (or has %q):\n%s", st.name, err, st.wantOut, st.notOut, out)
		}
	}
	p = startDev(t, dir)
	got, err := secretsmanager.NewFromConfig(p.awsConfig()).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil || aws.ToString(got.SecretString) != "kept" {
		t.Fatalf("after rotation: %v %v", got, err)
	}
}
