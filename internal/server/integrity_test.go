package server_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/store"

	_ "modernc.org/sqlite" // the attacker's direct access to the database file
)

// editRow rewrites one JSON field of a stored record by opening the SQLite
// file directly, as anyone with write access to it (but not the master
// key) can.
func editRow(t *testing.T, dataDir, kind, id, field string, value any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var data []byte
	if err := db.QueryRow(`SELECT data FROM records WHERE kind = ? AND id = ?`, kind, id).Scan(&data); err != nil {
		t.Fatalf("read %s %s: %v", kind, id, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc[field]; !ok {
		t.Fatalf("%s %s has no field %s: %s", kind, id, field, data)
	}
	doc[field] = value
	data, _ = json.Marshal(doc)
	if _, err := db.Exec(`UPDATE records SET data = ? WHERE kind = ? AND id = ?`, data, kind, id); err != nil {
		t.Fatal(err)
	}
}

// sameDatabase makes a second server use the first one's data directory and
// master key (a restart), with its own audit log.
func sameDatabase(dir string, key []byte) servertest.Option {
	return func(c *server.Config) {
		c.DataDir, c.MasterKey = dir, key
		c.AuditLogPath = filepath.Join(c.DataDir, "audit-"+rand.Text()+".log")
	}
}

// TestStoredStateIntegrity reproduces issue 12's attacks: editing the
// non-secret JSON of a record in the database file must not change what
// the server does. Each attack is set up through the API on one server,
// applied to the file while it is stopped, and exercised on a restarted
// server, which must refuse (InternalFailure, logged and counted), not act
// on the altered record nor treat it as absent.
func TestStoredStateIntegrity(t *testing.T) {
	type setup struct {
		keyID, secret string // an access key of an IAM user
		kmsKey        string
	}
	attacks := []struct {
		name   string
		kind   string
		tamper func(t *testing.T, dir string, s setup)
		// exploit returns the error of the call the tampering was meant
		// to allow.
		exploit func(t *testing.T, srv *servertest.Server, s setup) error
	}{
		{"access key UserName emptied: the key becomes the account root", "iam/accesskey",
			func(t *testing.T, dir string, s setup) { editRow(t, dir, "iam/accesskey", s.keyID, "UserName", "") },
			func(t *testing.T, srv *servertest.Server, s setup) error {
				out, err := sts.NewFromConfig(srv.AWSConfigFor(s.keyID, s.secret)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
				if err == nil {
					t.Logf("caller is %s", aws.ToString(out.Arn))
				}
				return err
			}},
		{"deactivated access key re-activated", "iam/accesskey",
			func(t *testing.T, dir string, s setup) { editRow(t, dir, "iam/accesskey", s.keyID, "Status", "Active") },
			func(t *testing.T, srv *servertest.Server, s setup) error {
				_, err := sts.NewFromConfig(srv.AWSConfigFor(s.keyID, s.secret)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
				return err
			}},
		{"disabled KMS key enabled", "kms/key",
			func(t *testing.T, dir string, s setup) { editRow(t, dir, "kms/key", s.kmsKey, "KeyState", "Enabled") },
			func(t *testing.T, srv *servertest.Server, s setup) error {
				_, err := kms.NewFromConfig(srv.AWSConfig()).Encrypt(context.Background(), &kms.EncryptInput{KeyId: aws.String(s.kmsKey), Plaintext: []byte("x")})
				return err
			}},
	}
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			key := make([]byte, 32)
			rand.Read(key)
			dir := t.TempDir()
			var s setup
			t.Run("setup", func(t *testing.T) {
				srv := servertest.Start(t, sameDatabase(dir, key))
				ic := iam.NewFromConfig(srv.AWSConfig())
				if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")}); err != nil {
					t.Fatal(err)
				}
				ak, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("mallory")})
				if err != nil {
					t.Fatal(err)
				}
				s.keyID, s.secret = aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey)
				if tc.name == "deactivated access key re-activated" {
					if _, err := ic.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("mallory"), AccessKeyId: ak.AccessKey.AccessKeyId, Status: iamtypes.StatusTypeInactive}); err != nil {
						t.Fatal(err)
					}
				}
				kc := kms.NewFromConfig(srv.AWSConfig())
				k, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
				if err != nil {
					t.Fatal(err)
				}
				s.kmsKey = aws.ToString(k.KeyMetadata.KeyId)
				if _, err := kc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
					t.Fatal(err)
				}
			})
			tc.tamper(t, dir, s)

			if tc.kind == "iam/accesskey" {
				// Installing the configured root key walks every access
				// key: a restart with one configured refuses to start.
				cfg := server.Config{DataDir: dir, MasterKey: key, AccountID: servertest.AccountID, Region: servertest.Region,
					AuditLogPath:    filepath.Join(dir, "audit-refused.log"),
					RootAccessKeyID: servertest.RootAccessKeyID, RootSecretAccessKey: servertest.RootSecretAccessKey}
				if bad, err := server.New(cfg); err == nil {
					bad.Close()
					t.Fatal("server installing its root key started over an altered access key")
				} else if !errors.Is(err, store.ErrIntegrity) {
					t.Fatalf("start error = %v, want an integrity error", err)
				}
			}
			// Restart without installing the root key (its row, written by
			// the first server, still authenticates it).
			srv := servertest.Start(t, sameDatabase(dir, key), func(c *server.Config) { c.RootAccessKeyID, c.RootSecretAccessKey = "", "" })
			err := tc.exploit(t, srv, s)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" {
				t.Fatalf("after tampering the call returned %v; want it refused with InternalFailure", err)
			}
			if strings.Contains(ae.ErrorMessage(), tc.kind) {
				t.Errorf("the client learns about the storage: %q", ae.ErrorMessage())
			}
			metrics := scrape(t, srv.URL+"/metrics")
			if !strings.Contains(metrics, `bulwark_store_integrity_failures_total{kind="`+tc.kind+`"}`) {
				t.Errorf("integrity failure not counted for %s in /metrics", tc.kind)
			}
			// The rest of the server keeps working.
			if _, err := sts.NewFromConfig(srv.AWSConfig()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
				t.Errorf("root after the refusal: %v", err)
			}
		})
	}
}

// TestServerRefusesUntaggedDatabase: a database with rows lacking an
// integrity tag (an upgrade not yet authenticated, or tags stripped) stops
// the server at start, saying what to do.
func TestServerRefusesUntaggedDatabase(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	dir := t.TempDir()
	t.Run("setup", func(t *testing.T) {
		srv := servertest.Start(t, sameDatabase(dir, key))
		if _, err := kms.NewFromConfig(srv.AWSConfig()).CreateKey(context.Background(), &kms.CreateKeyInput{}); err != nil {
			t.Fatal(err)
		}
	})
	db, err := sql.Open("sqlite", filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE records SET mac = NULL WHERE kind = 'kms/key'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cfg := server.Config{DataDir: dir, MasterKey: key, AccountID: servertest.AccountID, Region: servertest.Region}
	srv, err := server.New(cfg)
	if err == nil {
		srv.Close()
		t.Fatal("server started on a database with untagged records")
	}
	if !errors.Is(err, store.ErrIntegrity) || !strings.Contains(err.Error(), "bulwark admin reseal --authenticate-legacy") {
		t.Fatalf("start error = %v; want an integrity error naming the fix", err)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
