package server_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// requestID is the request id of a call's answer, success or error.
func requestID(t *testing.T, md middleware.Metadata, err error) string {
	t.Helper()
	if err != nil {
		var re interface{ ServiceRequestID() string }
		if errors.As(err, &re) {
			return re.ServiceRequestID()
		}
		t.Fatalf("error without a request id: %v", err)
	}
	id, _ := awsmw.GetRequestIDMetadata(md)
	return id
}

// TestOversizedCallsAreAudited is the attack class "make a call too large
// to record" through a real SDK client: calls with huge parameters, allowed
// and refused, each leave their outcome event, shortened and marked, and
// the log stays healthy.
func TestOversizedCallsAreAudited(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	cfg := srv.AWSConfig()
	km := kms.NewFromConfig(cfg)
	sm := secretsmanager.NewFromConfig(cfg)
	key, err := km.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")}); err != nil {
		t.Fatal(err)
	}
	ak, err := iam.NewFromConfig(cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("mallory")})
	if err != nil {
		t.Fatal(err)
	}
	mallory := srv.AWSConfigFor(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	huge := strings.Repeat("<", 180<<10) // 1 MiB once JSON-escaped

	cases := []struct {
		name string
		call func() (middleware.Metadata, error)
	}{
		{"allowed mutation", func() (middleware.Metadata, error) {
			out, err := km.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: key.KeyMetadata.KeyId, Description: aws.String(huge)})
			if out != nil {
				return out.ResultMetadata, err
			}
			return middleware.Metadata{}, err
		}},
		{"refused read by the root (no such secret)", func() (middleware.Metadata, error) {
			_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(huge)})
			return middleware.Metadata{}, err
		}},
		{"refused read by an unprivileged user", func() (middleware.Metadata, error) {
			_, err := secretsmanager.NewFromConfig(mallory).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(huge)})
			return middleware.Metadata{}, err
		}},
		{"refused mutation by an unprivileged user", func() (middleware.Metadata, error) {
			_, err := kms.NewFromConfig(mallory).UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(huge), Description: aws.String(huge)})
			return middleware.Metadata{}, err
		}},
	}
	for _, c := range cases {
		md, err := c.call()
		if err != nil && apiCode(t, err) == "ServiceUnavailable" {
			t.Fatalf("%s: the audit log refused the call: %v", c.name, err)
		}
		id := requestID(t, md, err)
		var outcome []audit.Event
		var line []byte
		raw, rerr := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
		if rerr != nil {
			t.Fatal(rerr)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			var e audit.Event
			if err := jsonUnmarshal(l, &e); err != nil {
				t.Fatal(err)
			}
			if e.RequestID == id && e.EventType == audit.EventTypeAPICall {
				outcome, line = append(outcome, e), l
			}
		}
		if len(outcome) != 1 {
			t.Fatalf("%s: %d outcome events for request %s, want 1", c.name, len(outcome), id)
		}
		if !bytes.Contains(line, []byte(audit.TruncatedMarker)) || outcome[0].AdditionalEventData[audit.ElidedKey] == nil {
			t.Errorf("%s: the event does not mark what was shortened: %.300s", c.name, line)
		}
		if (err == nil) != (outcome[0].ErrorCode == "") {
			t.Errorf("%s: call error %v but event errorCode %q", c.name, err, outcome[0].ErrorCode)
		}
	}
	if _, body := get(t, srv.URL+"/metrics"); !strings.Contains(body, "bulwark_audit_write_failures_total 0") {
		t.Error("audit write failures counted for calls that were written")
	}
	if n, err := audit.VerifyFile(filepath.Join(srv.DataDir, "audit.log")); err != nil || n == 0 {
		t.Errorf("verify: %d, %v", n, err)
	}
}

// TestAuditWriteFailuresAreCounted moves the audit log onto /dev/full,
// where every write fails, through a rotation: no call runs, each lost
// event is counted, and /readyz says why.
func TestAuditWriteFailuresAreCounted(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full")
	}
	srv := servertest.Start(t)
	path := filepath.Join(srv.DataDir, "audit.log")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReopenAuditLog(); err == nil {
		t.Fatal("reopening onto /dev/full succeeded")
	}
	ctx := context.Background()
	_, err := iam.NewFromConfig(srv.AWSConfig()).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ghost")})
	if got := apiCode(t, err); got != "ServiceUnavailable" {
		t.Fatalf("CreateUser with a failing audit log: %s", got)
	}
	if _, err := srv.IAM().GetUser(ctx, "ghost"); err == nil {
		t.Error("a mutation ran although the audit log cannot be written")
	}
	_, err = sts.NewFromConfig(srv.AWSConfig()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if got := apiCode(t, err); got != "ServiceUnavailable" {
		t.Fatalf("GetCallerIdentity with a failing audit log: %s", got)
	}
	// One lost outcome event per refused call.
	if _, body := get(t, srv.URL+"/metrics"); !strings.Contains(body, "bulwark_audit_write_failures_total 2") {
		t.Errorf("lost audit events not counted:\n%s", grepLines(body, "bulwark_audit"))
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz = %d", code)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestEventsAreInTheFileBeforeTheAnswer: a read-only call's event is not
// fsynced before the answer (auditReadSyncDelay), but it is written: a
// reader of the file (or a crash of the process right after the answer)
// finds it, for reads and changes alike.
func TestEventsAreInTheFileBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	ctx := context.Background()
	cfg := srv.AWSConfig()
	var md middleware.Metadata
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err == nil {
		md = out.ResultMetadata
	}
	readID := requestID(t, md, err)
	created, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("written-before-answer"), SecretString: aws.String("v")})
	if err == nil {
		md = created.ResultMetadata
	}
	changeID := requestID(t, md, err)
	// No waiting: the file is read the moment the answers are in.
	found := map[string]bool{}
	for _, e := range readAudit(t, srv) {
		if e.EventType == audit.EventTypeAPICall {
			found[e.RequestID] = true
		}
	}
	for name, id := range map[string]string{"GetCallerIdentity (read)": readID, "CreateSecret (change)": changeID} {
		if !found[id] {
			t.Errorf("%s: no outcome event in the audit file when the answer arrived", name)
		}
	}
}
