package iam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestUserActionsAuthorizeTheStoredUser: users are found without regard to
// case and may have a path, so every action on a named user must be
// authorized against the stored user's ARN, not one spelled from the
// request.
func TestUserActionsAuthorizeTheStoredUser(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	root := srv.IAM()
	for _, u := range []struct{ name, path string }{{"admin", "/"}, {"breakglass", "/"}, {"alice", "/"}, {"carol", "/ops/"}} {
		if _, err := root.CreateUser(ctx, u.name, u.path, nil); err != nil {
			t.Fatal(err)
		}
	}
	// admin may do anything in IAM except touch breakglass, anyone under
	// /ops/ or a user ghost, who does not exist.
	adminDoc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iam:*","Resource":"*"},
		{"Effect":"Deny","Action":"iam:*","Resource":["arn:aws:iam::` + servertest.AccountID + `:user/breakglass","arn:aws:iam::` + servertest.AccountID + `:user/ops/*","arn:aws:iam::` + servertest.AccountID + `:user/ghost"]}]}`
	if err := root.PutUserPolicy(ctx, "admin", "p", adminDoc); err != nil {
		t.Fatal(err)
	}
	// alice may manage users but not her own policies.
	aliceDoc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iam:*","Resource":"*"},
		{"Effect":"Deny","Action":"iam:PutUserPolicy","Resource":"arn:aws:iam::` + servertest.AccountID + `:user/${aws:username}"}]}`
	if err := root.PutUserPolicy(ctx, "alice", "p", aliceDoc); err != nil {
		t.Fatal(err)
	}
	clientFor := func(user string) *iam.Client {
		k, secret, err := root.CreateAccessKey(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return iam.NewFromConfig(srv.AWSConfigFor(k.AccessKeyID, secret))
	}
	admin, alice := clientFor("admin"), clientFor("alice")
	doc := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"CreateAccessKey in another case", func() error {
			_, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("BreakGlass")})
			return err
		}, "AccessDenied"},
		{"GetUser in another case", func() error {
			_, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("BREAKGLASS")})
			return err
		}, "AccessDenied"},
		{"PutUserPolicy in another case", func() error {
			_, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("BreakGlass"), PolicyName: aws.String("x"), PolicyDocument: doc})
			return err
		}, "AccessDenied"},
		{"ListUserPolicies in another case", func() error {
			_, err := admin.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("breakGlass")})
			return err
		}, "AccessDenied"},
		{"ListAccessKeys in another case", func() error {
			_, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("BreakGlass")})
			return err
		}, "AccessDenied"},
		{"DeleteUser in another case", func() error {
			_, err := admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("BreakGlass")})
			return err
		}, "AccessDenied"},
		{"DeleteUser of a user with a path", func() error {
			_, err := admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("carol")})
			return err
		}, "AccessDenied"},
		{"CreateAccessKey of a user with a path", func() error {
			_, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("carol")})
			return err
		}, "AccessDenied"},
		{"PutUserPolicy on oneself in another case", func() error {
			_, err := alice.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("ALICE"), PolicyName: aws.String("x"), PolicyDocument: doc})
			return err
		}, "AccessDenied"},
		{"allowed user in another case", func() error {
			_, err := admin.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("ALICE")})
			return err
		}, ""},
		{"unknown user, allowed caller", func() error {
			_, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")})
			return err
		}, "NoSuchEntity"},
		{"unknown user, denied caller learns nothing", func() error {
			_, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ghost")})
			return err
		}, "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errCode(tc.call()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Nothing the denied calls tried happened.
	if keys, err := root.ListAccessKeys(ctx, "breakglass"); err != nil || len(keys) != 0 {
		t.Errorf("breakglass keys = %v, %v; want none", keys, err)
	}
	if names, err := root.ListUserPolicies(ctx, "alice"); err != nil || len(names) != 1 {
		t.Errorf("alice's policies = %v, %v; want only p", names, err)
	}
}

// TestFormAdapterRecordsAndRedacts: IAM's operations go through api.Form,
// so the audit log gets each call's parameters under CloudTrail's names,
// a mutation's result with the new secret access key hidden, no result
// for reads, and a missing required member is IAM's ValidationError.
func TestFormAdapterRecordsAndRedacts(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	c := iam.NewFromConfig(srv.AWSConfig())
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dora"), Path: aws.String("/ops/"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}, {Key: aws.String("tier"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("dora")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.User.Tags) != 2 || aws.ToString(got.User.Tags[1].Value) != "1" || aws.ToString(got.User.Path) != "/ops/" {
		t.Fatalf("user %+v: the tags or the path did not arrive", got.User)
	}
	ak, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dora")})
	if err != nil {
		t.Fatal(err)
	}
	secret := aws.ToString(ak.AccessKey.SecretAccessKey)
	if len(secret) < 20 {
		t.Fatalf("secret access key %q", secret)
	}
	if _, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("dora")}); err != nil {
		t.Fatal(err)
	}
	// The SDK checks for nil, not for empty: an empty member reaches the
	// server's required check.
	_, err = c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("dora"), PolicyName: aws.String("")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" || !strings.Contains(ae.ErrorMessage(), "Value null at 'policyName'") {
		t.Fatalf("DeleteUserPolicy without PolicyName: %v", err)
	}

	raw, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the secret access key is in the audit log")
	}
	events := map[string]map[string]any{}
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var e map[string]any
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		if e["eventType"] == "AwsApiCall" && e["eventSource"] == "iam.amazonaws.com" {
			events[e["eventName"].(string)] = e
		}
	}
	tests := []struct {
		event, path string
		want        any
	}{
		{"CreateUser", "requestParameters.userName", "dora"},
		{"CreateUser", "requestParameters.tags.0.key", "team"},
		{"CreateUser", "responseElements.user.path", "/ops/"},
		{"CreateAccessKey", "responseElements.accessKey.accessKeyId", aws.ToString(ak.AccessKey.AccessKeyId)},
		{"CreateAccessKey", "responseElements.accessKey.secretAccessKey", "HIDDEN_DUE_TO_SECURITY_REASONS"},
		{"ListAccessKeys", "requestParameters.userName", "dora"},
		{"ListAccessKeys", "responseElements", nil},
		{"GetUser", "responseElements", nil},
		{"DeleteUserPolicy", "errorCode", "ValidationError"},
		{"DeleteUserPolicy", "requestParameters.userName", "dora"},
	}
	for _, tc := range tests {
		e, ok := events[tc.event]
		if !ok {
			t.Errorf("no %s event", tc.event)
			continue
		}
		if got := lookup(e, tc.path); got != tc.want {
			t.Errorf("%s %s = %v, want %v", tc.event, tc.path, got, tc.want)
		}
	}
}

// lookup follows a dotted path of object members and list indexes.
func lookup(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			v = t[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}
