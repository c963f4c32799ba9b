package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// listDeliveries signs a BulwarkEvents.ListRuleDeliveries call, as the
// console does.
func listDeliveries(t *testing.T, srv *servertest.Server, id, secret string, in any) (int, map[string]any) {
	t.Helper()
	return srv.CallJSON(t, "bulwark", "BulwarkEvents.ListRuleDeliveries", id, secret, in)
}

// TestListRuleDeliveriesAPI: the read API reports a failing target's
// retry, is refused without bulwark:ListRuleDeliveries (EventBridge's own
// read rights are not enough) and rejects tokens it did not make.
func TestListRuleDeliveriesAPI(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(srv.AWSConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/hook?token=in-the-url"
	ln.Close()
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["app"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("r"), Targets: []types.Target{{Id: aws.String("down"), Arn: aws.String(closed)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{Source: aws.String("app"), DetailType: aws.String("x"), Detail: aws.String(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	// The server's delivery loop makes the first attempt at once; drive a
	// pass too, in case it has not run yet.
	testwait.For(t, 10*time.Second, "the first delivery attempt", func() bool {
		if _, err := srv.Events().DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		_, out := listDeliveries(t, srv, servertest.RootAccessKeyID, servertest.RootSecretAccessKey, map[string]any{"Rule": "r"})
		return len(out["Targets"].([]any)) == 1
	})
	ruleARN := "arn:aws:events:" + servertest.Region + ":" + servertest.AccountID + ":rule/r"
	allow := func(action, resource string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"` + resource + `"}]}`
	}
	tests := []struct {
		name, policy string
		in           map[string]any
		wantCode     string
	}{
		{"EventBridge read rights are not enough", allow("events:*", "*"), map[string]any{"Rule": "r"}, "AccessDeniedException"},
		{"granted on another rule", allow("bulwark:ListRuleDeliveries", ruleARN+"x"), map[string]any{"Rule": "r"}, "AccessDeniedException"},
		{"granted", allow("bulwark:ListRuleDeliveries", ruleARN), map[string]any{"Rule": "r"}, ""},
		{"bad token", allow("bulwark:ListRuleDeliveries", "*"), map[string]any{"Rule": "r", "NextToken": "bm90LWEtcG9zaXRpb24"}, "InvalidNextTokenException"},
		{"missing rule", allow("bulwark:ListRuleDeliveries", "*"), map[string]any{"Rule": "nope"}, "ResourceNotFoundException"},
		{"too many results", allow("bulwark:ListRuleDeliveries", "*"), map[string]any{"Rule": "r", "MaxResults": 101}, "ValidationException"},
	}
	ic := iam.NewFromConfig(srv.AWSConfig())
	for i, tc := range tests {
		name := fmt.Sprintf("u%d", i)
		if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: &name}); err != nil {
			t.Fatal(err)
		}
		if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: &name, PolicyName: aws.String("p"), PolicyDocument: &tc.policy}); err != nil {
			t.Fatal(err)
		}
		k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: &name})
		if err != nil {
			t.Fatal(err)
		}
		code, out := listDeliveries(t, srv, *k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, tc.in)
		typ, _ := out["__type"].(string)
		if tc.wantCode != "" {
			if !strings.HasSuffix(typ, tc.wantCode) {
				t.Errorf("%s: %d %v, want %s", tc.name, code, out, tc.wantCode)
			}
			if tc.wantCode == "AccessDeniedException" && !strings.Contains(fmt.Sprint(out), "bulwark:ListRuleDeliveries") {
				t.Errorf("%s: the refusal does not name the action: %v", tc.name, out)
			}
			continue
		}
		targets, pending := out["Targets"].([]any), out["Pending"].([]any)
		if code != 200 || len(targets) != 1 || len(pending) != 1 {
			t.Fatalf("%s: %d %v", tc.name, code, out)
		}
		ts, p := targets[0].(map[string]any), pending[0].(map[string]any)
		if ts["Id"] != "down" || ts["Outcome"] != "RETRYING" || ts["Attempts"] != 1.0 || p["TargetId"] != "down" || p["NextAttemptAt"] == nil {
			t.Errorf("%s: %v", tc.name, out)
		}
		if raw, _ := json.Marshal(out); bytes.Contains(raw, []byte("in-the-url")) {
			t.Errorf("the error carries the target URL's query: %s", raw)
		}
	}
}
