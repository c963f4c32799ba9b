package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("expected an AWS API error, got %v", err)
	}
	return ae.ErrorCode()
}

func TestGetCallerIdentityAsRoot(t *testing.T) {
	srv := servertest.Start(t)
	out, err := sts.NewFromConfig(srv.AWSConfig()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.Arn), "arn:aws:iam::"+servertest.AccountID+":root"; got != want {
		t.Errorf("Arn = %q, want %q", got, want)
	}
	if got := aws.ToString(out.Account); got != servertest.AccountID {
		t.Errorf("Account = %q", got)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		akid     string
		secret   string
		skew     time.Duration
		wantCode string
	}{
		{"wrong secret", servertest.RootAccessKeyID, "not-the-right-secret-0123456789abcdefghij", 0, "SignatureDoesNotMatch"},
		{"unknown key", "AKIANOSUCHKEY0000000", servertest.RootSecretAccessKey, 0, "InvalidClientTokenId"},
		{"clock 20 minutes ahead of the client", servertest.RootAccessKeyID, servertest.RootSecretAccessKey, 20 * time.Minute, "SignatureDoesNotMatch"},
		{"clock 20 minutes behind the client", servertest.RootAccessKeyID, servertest.RootSecretAccessKey, -20 * time.Minute, "SignatureDoesNotMatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.Clock.Advance(tc.skew)
			defer srv.Clock.Advance(-tc.skew)
			_, err := sts.NewFromConfig(srv.AWSConfigWallClock(tc.akid, tc.secret)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err == nil {
				t.Fatal("request was accepted")
			}
			if got := apiCode(t, err); got != tc.wantCode {
				t.Errorf("code = %s, want %s (%v)", got, tc.wantCode, err)
			}
			if tc.skew != 0 && !strings.Contains(err.Error(), "Signature expired") && !strings.Contains(err.Error(), "Signature not yet current") {
				t.Errorf("skew error should say the signature expired: %v", err)
			}
		})
	}
	// A skew within the 15-minute window is fine.
	srv.Clock.Advance(10 * time.Minute)
	if _, err := sts.NewFromConfig(srv.AWSConfigWallClock(servertest.RootAccessKeyID, servertest.RootSecretAccessKey)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("10 minutes of skew refused: %v", err)
	}
}

func TestPresignedGetCallerIdentity(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	presigner := sts.NewPresignClient(sts.NewFromConfig(srv.AWSConfigWallClock(servertest.RootAccessKeyID, servertest.RootSecretAccessKey)))
	req, err := presigner.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	do := func() (int, string) {
		hreq, err := http.NewRequest(req.Method, req.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range req.SignedHeader {
			for _, v := range vs {
				hreq.Header.Add(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := do()
	if status != 200 || !strings.Contains(body, ":root</Arn>") {
		t.Fatalf("presigned URL refused: %d %s", status, body)
	}
	// The SDK presigns for 15 minutes: 16 minutes later the URL is dead.
	srv.Clock.Advance(16 * time.Minute)
	status, body = do()
	if status == 200 || !strings.Contains(body, "<Code>RequestExpired</Code>") {
		t.Fatalf("expired presigned URL: %d %s", status, body)
	}
}

// TestIAMUsersKeysAndPolicies walks the IAM subset with the SDK: a user,
// an access key, an inline policy, and the policy enforced on the user's
// own calls.
func TestIAMUsersKeysAndPolicies(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	root := iam.NewFromConfig(srv.AWSConfig())

	if _, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	_, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("Alice")})
	if got := apiCode(t, err); got != "EntityAlreadyExists" {
		t.Errorf("duplicate user (names are case-insensitive): %s", got)
	}
	key, err := root.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	akid, secret := aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)
	if len(secret) != 40 || !strings.HasPrefix(akid, "AKIA") {
		t.Fatalf("access key looks wrong: %q / %d chars", akid, len(secret))
	}

	alice := iam.NewFromConfig(srv.AWSConfigFor(akid, secret))
	aliceSTS := sts.NewFromConfig(srv.AWSConfigFor(akid, secret))
	who, err := aliceSTS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(who.Arn); got != "arn:aws:iam::"+servertest.AccountID+":user/alice" {
		t.Errorf("alice's identity: %s", got)
	}

	// No policy yet: implicit deny.
	_, err = alice.GetUser(ctx, &iam.GetUserInput{})
	if got := apiCode(t, err); got != "AccessDenied" {
		t.Fatalf("GetUser without policy: %s", got)
	}
	if !strings.Contains(err.Error(), "user/alice is not authorized to perform: iam:GetUser") {
		t.Errorf("denial should name principal and action: %v", err)
	}

	pol := `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["iam:GetUser","iam:ListUsers"],"Resource":"*"},
	  {"Effect":"Deny","Action":"iam:ListUsers","Resource":"*","Condition":{"StringEquals":{"aws:username":"alice"}}}]}`
	if _, err := root.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("self"), PolicyDocument: aws.String(pol)}); err != nil {
		t.Fatal(err)
	}
	me, err := alice.GetUser(ctx, &iam.GetUserInput{})
	if err != nil {
		t.Fatalf("GetUser with an allowing policy: %v", err)
	}
	if aws.ToString(me.User.UserName) != "alice" {
		t.Errorf("GetUser returned %v", aws.ToString(me.User.UserName))
	}
	_, err = alice.ListUsers(ctx, &iam.ListUsersInput{})
	if got := apiCode(t, err); got != "AccessDenied" {
		t.Errorf("explicit deny should win over allow: %s", got)
	}

	got, err := root.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("self")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(got.PolicyDocument), "iam%3AGetUser") {
		t.Errorf("policy document should come back URL-encoded as IAM does: %q", aws.ToString(got.PolicyDocument))
	}
	names, err := root.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("alice")})
	if err != nil || len(names.PolicyNames) != 1 {
		t.Fatalf("ListUserPolicies: %v %v", names, err)
	}

	_, err = root.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`)})
	if got := apiCode(t, err); got != "MalformedPolicyDocument" {
		t.Errorf("malformed policy: %s", got)
	}

	_, err = root.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	if got := apiCode(t, err); got != "DeleteConflict" {
		t.Errorf("deleting a user with keys: %s", got)
	}

	// Deactivating the key locks alice out.
	if _, err := root.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid), Status: "Inactive"}); err != nil {
		t.Fatal(err)
	}
	_, err = aliceSTS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if got := apiCode(t, err); got != "InvalidClientTokenId" {
		t.Errorf("inactive key: %s", got)
	}
	keys, err := root.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil || len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].Status != "Inactive" {
		t.Fatalf("ListAccessKeys: %+v %v", keys, err)
	}

	for _, step := range []func() error{
		func() error {
			_, err := root.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid)})
			return err
		},
		func() error {
			_, err := root.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("self")})
			return err
		},
		func() error {
			_, err := root.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = root.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	if got := apiCode(t, err); got != "NoSuchEntity" {
		t.Errorf("deleted user: %s", got)
	}
	users, err := root.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil || len(users.Users) != 0 {
		t.Errorf("ListUsers after delete: %v %v", users, err)
	}

	// The secret was returned once and is nowhere in the audit log.
	raw, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(servertest.RootSecretAccessKey)) {
		t.Error("a secret access key reached the audit log")
	}
}

// TestAuditOneEventPerCall checks that every call, allowed or refused,
// appears exactly once, with its outcome, and the chain verifies.
func TestAuditOneEventPerCall(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	root := iam.NewFromConfig(srv.AWSConfig())
	stsc := sts.NewFromConfig(srv.AWSConfig())
	bad := sts.NewFromConfig(srv.AWSConfigFor(servertest.RootAccessKeyID, "wrong-secret-wrong-secret-wrong-secret-00"))

	var ids []string
	capture := func(out any, err error) {
		t.Helper()
		var re interface{ ServiceRequestID() string }
		if err != nil && errors.As(err, &re) {
			ids = append(ids, re.ServiceRequestID())
		}
	}
	_, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")})
	capture(nil, err)
	_, err = root.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	capture(nil, err)
	_, err = stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	capture(nil, err)
	_, err = bad.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	capture(nil, err)

	var all []audit.Event
	checkpoints := 0
	for _, e := range readAudit(t, srv) {
		if e.EventType == audit.EventTypeCheckpoint {
			checkpoints++
			continue
		}
		all = append(all, e)
	}
	var events []audit.Event
	intents := map[string]string{}
	for _, e := range all {
		if e.EventType == audit.EventTypeIntent {
			intents[e.RequestID] = e.EventName
			continue
		}
		events = append(events, e)
	}
	want := []struct{ name, code string }{
		{"CreateUser", ""}, {"GetUser", "NoSuchEntity"}, {"GetCallerIdentity", ""}, {"GetCallerIdentity", "SignatureDoesNotMatch"},
	}
	if len(events) != len(want) {
		t.Fatalf("audit has %d events, want %d", len(events), len(want))
	}
	seen := map[string]bool{}
	for i, w := range want {
		e := events[i]
		if e.EventName != w.name || e.ErrorCode != w.code {
			t.Errorf("event %d = %s/%q, want %s/%q", i, e.EventName, e.ErrorCode, w.name, w.code)
		}
		if seen[e.RequestID] {
			t.Errorf("request %s audited twice", e.RequestID)
		}
		seen[e.RequestID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("request %s returned an error but is not in the audit log", id)
		}
	}
	if events[0].UserIdentity.ARN != "arn:aws:iam::"+servertest.AccountID+":root" || events[0].EventSource != "iam.amazonaws.com" {
		t.Errorf("first event identity/source: %+v", events[0])
	}
	if events[3].UserIdentity.Type != "Unknown" || events[3].UserIdentity.AccessKeyID != servertest.RootAccessKeyID {
		t.Errorf("a refused signature must not name a proven principal: %+v", events[3].UserIdentity)
	}
	// Only the call that may change something is written ahead, before it
	// ran, under its own request id.
	if len(intents) != 1 || intents[events[0].RequestID] != "CreateUser" {
		t.Errorf("intent events = %v, want one for CreateUser %s", intents, events[0].RequestID)
	}
	if all[0].EventType != audit.EventTypeIntent || all[1].RequestID != all[0].RequestID {
		t.Errorf("the intent is not written before the outcome: %s then %s", all[0].EventType, all[1].EventType)
	}
	if n, err := audit.VerifyFile(filepath.Join(srv.DataDir, "audit.log")); err != nil || n != len(all)+checkpoints {
		t.Errorf("verify: %d lines, %v", n, err)
	}
}

func readAudit(t *testing.T, srv *servertest.Server) []audit.Event {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var e audit.Event
		if err := jsonUnmarshal(line, &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// signedRequest builds a request signed by the SDK's signer with the root
// credentials for service (the routed service's signing name), for the
// protocol edge cases no SDK client would send.
func signedRequest(t *testing.T, srv *servertest.Server, service, target, contentType string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Content-Type", contentType)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, servertest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestUnknownTargetsAndActions(t *testing.T) {
	srv := servertest.Start(t)
	tests := []struct {
		name, target, ctype, body, wantCode string
	}{
		{"unknown JSON service", "NoSuchService.DoThing", "application/x-amz-json-1.1", "{}", "UnknownOperationException"},
		{"no target", "", "application/x-amz-json-1.1", "{}", "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(signedRequest(t, srv, "kms", tc.target, tc.ctype, []byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || !strings.Contains(string(b), `"__type":"`+tc.wantCode+`"`) {
				t.Errorf("got %d %s", resp.StatusCode, b)
			}
		})
	}
	// An unknown IAM action through the Query protocol.
	_, err := iam.NewFromConfig(srv.AWSConfig()).CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String("{}")})
	if got := apiCode(t, err); got != "InvalidAction" {
		t.Errorf("unknown IAM action: %s", got)
	}
}

// TestClientsFollowTheServerClock: servertest's SDK configuration signs
// with the server's clock, so tests can move days ahead.
func TestClientsFollowTheServerClock(t *testing.T) {
	srv := servertest.Start(t)
	srv.Clock.Advance(72 * time.Hour)
	if _, err := sts.NewFromConfig(srv.AWSConfig()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("a client of a server 3 days ahead: %v", err)
	}
}
