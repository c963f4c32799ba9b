package auditapi_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// call signs a BulwarkAudit request with the given key, as the console
// and any SigV4 client do.
func call(t *testing.T, srv *servertest.Server, id, secret, op string, in any) (int, map[string]any) {
	t.Helper()
	return srv.CallJSON(t, "bulwark", "BulwarkAudit."+op, id, secret, in)
}

func root(t *testing.T, srv *servertest.Server, op string, in any) map[string]any {
	t.Helper()
	code, out := call(t, srv, servertest.RootAccessKeyID, servertest.RootSecretAccessKey, op, in)
	if code != 200 {
		t.Fatalf("%s: %d %v", op, code, out)
	}
	return out
}

func names(out map[string]any) []string {
	var n []string
	for _, e := range out["Events"].([]any) {
		ev := e.(map[string]any)
		n = append(n, ev["EventName"].(string)+"/"+ev["EventId"].(string))
	}
	return n
}

func TestLookupPaginatesNewestFirst(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	kc := kms.NewFromConfig(srv.AWSConfig())
	for _, d := range []string{"one", "two", "three"} {
		if _, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("audit-" + d)}); err != nil {
			t.Fatal(err)
		}
	}
	filter := []map[string]string{{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}}
	p1 := root(t, srv, "LookupEvents", map[string]any{"LookupAttributes": filter, "MaxResults": 2})
	if len(names(p1)) != 2 || p1["NextToken"] == nil {
		t.Fatalf("first page %v", p1)
	}
	first := p1["Events"].([]any)[0].(map[string]any)
	if !strings.Contains(first["CloudTrailEvent"].(string), "audit-three") {
		t.Errorf("newest first: got %s", first["CloudTrailEvent"])
	}
	p2 := root(t, srv, "LookupEvents", map[string]any{"LookupAttributes": filter, "MaxResults": 2, "NextToken": p1["NextToken"]})
	if len(names(p2)) != 1 || !strings.Contains(p2["Events"].([]any)[0].(map[string]any)["CloudTrailEvent"].(string), "audit-one") {
		t.Fatalf("second page %v", p2)
	}
	seen := map[string]bool{}
	for _, n := range append(names(p1), names(p2)...) {
		if seen[n] {
			t.Errorf("event %s on two pages", n)
		}
		seen[n] = true
	}
	if got := names(root(t, srv, "LookupEvents", map[string]any{"Text": "AUDIT-TWO"})); len(got) != 1 {
		t.Errorf("text search found %v", got)
	}
	v := root(t, srv, "VerifyAuditLog", map[string]any{})
	if v["Intact"] != true || v["Keyed"] != true || v["Lines"].(float64) < 4 {
		t.Errorf("verify %v", v)
	}
}

func TestLookupRefusals(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	ic := iam.NewFromConfig(srv.AWSConfig())
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("nobody")}); err != nil {
		t.Fatal(err)
	}
	ak, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("nobody")})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"LookupEvents", "VerifyAuditLog"} {
		code, out := call(t, srv, aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), op, map[string]any{})
		if code != 400 || !strings.Contains(out["message"].(string), "bulwark:") {
			t.Errorf("%s without permission: %d %v", op, code, out)
		}
	}
	tok := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	bad := map[string]map[string]any{
		"garbage token":       {"NextToken": "!!!"},
		"another file":        {"NextToken": tok(`{"f":"../../etc/passwd","o":0}`)},
		"absolute path":       {"NextToken": tok(`{"f":"/etc/passwd","o":0}`)},
		"negative offset":     {"NextToken": tok(`{"f":"audit.log","o":-5}`)},
		"offset past the end": {"NextToken": tok(`{"f":"audit.log","o":4611686018427387904}`)},
		"too many results":    {"MaxResults": 51},
		"unknown attribute":   {"LookupAttributes": []map[string]string{{"AttributeKey": "Password", "AttributeValue": "x"}}},
		"too many attributes": {"LookupAttributes": make([]map[string]string, 6)},
	}
	for name, in := range bad {
		code, out := call(t, srv, servertest.RootAccessKeyID, servertest.RootSecretAccessKey, "LookupEvents", in)
		if code != 400 {
			t.Errorf("%s: %d %v", name, code, out)
		}
	}
}
