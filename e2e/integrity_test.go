package e2e

import (
	"context"
	"database/sql"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	_ "modernc.org/sqlite" // to turn the database back into a pre-upgrade one
)

// TestUpgradeAuthenticatesLegacyRecords: a database written before record
// integrity tags (schema version 1, no mac column) is migrated, but the
// server refuses to start on it until an operator runs the one-time
// `admin reseal --authenticate-legacy`; a plain reseal refuses it too.
func TestUpgradeAuthenticatesLegacyRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := ctxT(t)
	t.Setenv("BULWARK_MASTER_KEY", sharedMasterKey)
	t.Setenv("BULWARK_PREVIOUS_MASTER_KEYS", "")
	p := startDev(t, dir)
	if _, err := secretsmanager.NewFromConfig(p.awsConfig()).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	stop(t, p)

	// Back to what the previous release left: no mac column, schema 1.
	db, err := sql.Open("sqlite", filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE records DROP COLUMN mac`, `DELETE FROM bulwark_schema WHERE version >= 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(sctx, binary, "server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dir,
		"--dev-access-key-id", devKeyID, "--dev-secret-access-key", devSecret).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--authenticate-legacy") {
		t.Fatalf("server on an untagged database: %v\n%s\nwant it to refuse to start, naming --authenticate-legacy", err, out)
	}

	steps := []struct {
		name    string
		args    []string
		wantErr bool
		wantOut string
	}{
		{"check counts the untagged records", []string{"--check"}, true, "had no integrity tag"},
		{"a plain reseal refuses them", nil, true, "--authenticate-legacy"},
		{"the one-time upgrade tags them", []string{"--authenticate-legacy"}, false, "had no integrity tag"},
		{"then nothing is left", []string{"--check"}, false, " 0 under a previous key"},
	}
	for _, st := range steps {
		out, err := bulwark(append([]string{"admin", "reseal", "--data-dir", dir}, st.args...)...)
		if (err != nil) != st.wantErr || !strings.Contains(out, st.wantOut) {
			t.Fatalf("%s: err %v, output lacks %q:\n%s", st.name, err, st.wantOut, out)
		}
	}

	p = startDev(t, dir)
	got, err := secretsmanager.NewFromConfig(p.awsConfig()).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil || aws.ToString(got.SecretString) != "kept" {
		t.Fatalf("after the upgrade: %v %v", got, err)
	}
}
