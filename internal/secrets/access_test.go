package secrets

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/policy"
)

const (
	alice = "arn:aws:iam::111122223333:user/alice"
	bob   = "arn:aws:iam::111122223333:user/bob"
)

func TestResourcePolicyAllowsOneDeniesAnother(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := mustCreate(t, e, "shared", "v")
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
	 {"Sid":"AliceReads","Effect":"Allow","Principal":{"AWS":%q},"Action":"secretsmanager:GetSecretValue","Resource":"*"},
	 {"Sid":"NoBob","Effect":"Deny","Principal":{"AWS":%q},"Action":"secretsmanager:*","Resource":"*"}]}`, alice, bob)
	// bob's own identity policy allows everything; the resource policy's Deny wins.
	idp, err := policy.ParseIdentity([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.authz.identity[bob] = []*policy.Policy{idp}
	if _, err := e.svc.GetSecretValue(ctx, e.call(alice), "shared", "", ""); codeOf(err) != "AccessDeniedException" {
		t.Fatalf("alice before policy: %v", err)
	}
	if _, err := e.svc.PutResourcePolicy(ctx, e.root(), "shared", doc, true); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, e.call(alice), "shared", "", "")
	if _, err := e.svc.GetSecretValue(ctx, e.call(bob), m.ARN, "", ""); codeOf(err) != "AccessDeniedException" {
		t.Fatalf("bob: %v", err)
	}
	if _, err := e.svc.PutSecretValue(ctx, e.call(alice), PutInput{SecretID: "shared", Value: Value{String: str("x")}}); codeOf(err) != "AccessDeniedException" {
		t.Fatalf("alice may only read: %v", err)
	}
	if _, err := e.svc.DeleteResourcePolicy(ctx, e.root(), "shared"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, e.call(bob), "shared", "", "")
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e, "p", "v")
	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	noPrincipal := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	cases := []struct {
		name, doc  string
		block      bool
		putCode    string
		checks     int
		validateOK bool
	}{
		{"public blocked", public, true, "PublicPolicyException", 1, false},
		{"public allowed when not blocking", public, false, "", 1, false},
		{"no principal", noPrincipal, false, "MalformedPolicyDocumentException", 1, false},
		{"not json", `{"Version":`, false, "MalformedPolicyDocumentException", -1, false},
		{"fine", fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"secretsmanager:*","Resource":"*"}]}`, alice), true, "", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.PutResourcePolicy(ctx, e.root(), "p", tc.doc, tc.block)
			if codeOf(err) != tc.putCode {
				t.Fatalf("put: %v, want %q", err, tc.putCode)
			}
			errs, err := e.svc.ValidateResourcePolicy(ctx, e.root(), "p", tc.doc)
			if tc.checks < 0 {
				if codeOf(err) != "MalformedPolicyDocumentException" {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err != nil || len(errs) != tc.checks {
				t.Fatalf("validate: %v %v", errs, err)
			}
		})
	}
}

// TestKMSDecryptRequired: a principal allowed GetSecretValue but refused by
// KMS gets KMS's AccessDenied, and the data-key cache of another principal
// does not let it through.
func TestKMSDecryptRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e, "k", "v")
	idp, _ := policy.ParseIdentity([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`))
	e.authz.identity[alice] = []*policy.Policy{idp}
	e.authz.identity[bob] = []*policy.Policy{idp}
	e.keys.deny(bob)
	mustGet(t, e, e.call(alice), "k", "", "") // warms the cache for alice
	_, err := e.svc.GetSecretValue(ctx, e.call(bob), "k", "", "")
	if codeOf(err) != "AccessDeniedException" {
		t.Fatalf("bob without kms:Decrypt: %v", err)
	}
	e.keys.deny(alice)
	if _, _, err := e.svc.CreateSecret(ctx, e.call(alice), CreateInput{Name: "x", Value: strValue("v")}); codeOf(err) != "AccessDeniedException" {
		t.Fatalf("create without kms rights: %v", err)
	}
}

func TestDataKeyCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e, "c", "v")
	for i := 0; i < 5; i++ {
		mustGet(t, e, e.root(), "c", "", "")
	}
	if n := e.keys.decrypts.Load(); n != 1 {
		t.Fatalf("%d KMS decrypts for 5 reads, want 1", n)
	}
	// Authorization still runs on every call: a Deny policy bites at once.
	// root is allowed everything by testAuthz, so use alice for the deny.
	idp, _ := policy.ParseIdentity([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`))
	e.authz.identity[alice] = []*policy.Policy{idp}
	mustGet(t, e, e.call(alice), "c", "", "")
	deny := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":%q},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`, alice)
	if _, err := e.svc.PutResourcePolicy(ctx, e.root(), "c", deny, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSecretValue(ctx, e.call(alice), "c", "", ""); codeOf(err) != "AccessDeniedException" {
		t.Fatalf("cached key served past a Deny: %v", err)
	}
	// After the TTL the key is fetched from KMS again (and KMS may refuse).
	e.keys.deny(rootARN)
	mustGet(t, e, e.root(), "c", "", "") // still within TTL: served from the cache
	e.clock.Add(DefaultKeyCacheTTL)
	if _, err := e.svc.GetSecretValue(ctx, e.root(), "c", "", ""); codeOf(err) != "AccessDeniedException" {
		t.Fatalf("after TTL: %v", err)
	}
}

func TestListSecretsFiltersSortAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for i, n := range []string{"prod/db", "prod/api", "dev/db", "dev/api", "other"} {
		_, _, err := e.svc.CreateSecret(ctx, e.root(), CreateInput{Name: n, Description: "The " + n + " credentials",
			Tags: []Tag{{Key: "env", Value: n[:3]}, {Key: fmt.Sprintf("k%d", i), Value: "x"}}})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
	}
	names := func(l []*Secret) (out []string) {
		for _, m := range l {
			out = append(out, m.Name)
		}
		return out
	}
	cases := []struct {
		name    string
		in      ListInput
		want    []string
		wantErr string
	}{
		{"all by created", ListInput{}, []string{"prod/db", "prod/api", "dev/db", "dev/api", "other"}, ""},
		{"name prefix", ListInput{Filters: []Filter{{Key: "name", Values: []string{"prod/"}}}}, []string{"prod/db", "prod/api"}, ""},
		{"negated name", ListInput{Filters: []Filter{{Key: "name", Values: []string{"!prod/"}}}}, []string{"dev/db", "dev/api", "other"}, ""},
		{"two filters AND", ListInput{Filters: []Filter{{Key: "tag-value", Values: []string{"dev"}}, {Key: "name", Values: []string{"dev/a"}}}}, []string{"dev/api"}, ""},
		{"tag key", ListInput{Filters: []Filter{{Key: "tag-key", Values: []string{"k4", "k0"}}}}, []string{"prod/db", "other"}, ""},
		{"description ci", ListInput{Filters: []Filter{{Key: "description", Values: []string{"the dev"}}}}, []string{"dev/db", "dev/api"}, ""},
		{"all words", ListInput{Filters: []Filter{{Key: "all", Values: []string{"API"}}}}, []string{"prod/api", "dev/api"}, ""},
		{"by name desc", ListInput{SortBy: "name", SortOrder: "desc"}, []string{"prod/db", "prod/api", "other", "dev/db", "dev/api"}, ""},
		{"bad key", ListInput{Filters: []Filter{{Key: "color", Values: []string{"x"}}}}, nil, "InvalidParameterException"},
		{"bad token", ListInput{NextToken: "garbage"}, nil, "InvalidNextTokenException"},
	}
	for _, tc := range cases {
		got, _, err := e.svc.ListSecrets(ctx, e.root(), tc.in)
		if codeOf(err) != tc.wantErr {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.wantErr == "" && fmt.Sprint(names(got)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, names(got), tc.want)
		}
	}
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		l, next, err := e.svc.ListSecrets(ctx, e.root(), ListInput{MaxResults: 2, NextToken: token, SortBy: "name"})
		if err != nil || pages > 5 {
			t.Fatal(err, pages)
		}
		all = append(all, names(l)...)
		if token = next; token == "" {
			break
		}
	}
	if fmt.Sprint(all) != "[dev/api dev/db other prod/api prod/db]" {
		t.Fatalf("paged: %v", all)
	}
	// Secrets scheduled for deletion only with IncludePlannedDeletion.
	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "other", nil, false); err != nil {
		t.Fatal(err)
	}
	l, _, _ := e.svc.ListSecrets(ctx, e.root(), ListInput{})
	l2, _, _ := e.svc.ListSecrets(ctx, e.root(), ListInput{IncludePlannedDeletion: true})
	if len(l) != 4 || len(l2) != 5 {
		t.Fatalf("planned deletion: %d/%d", len(l), len(l2))
	}
}

func TestBatchGetSecretValue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e, "b/one", "1")
	mustCreate(t, e, "b/two", "2")
	mustCreate(t, e, "c/three", "3")
	_, _, _ = e.svc.CreateSecret(ctx, e.root(), CreateInput{Name: "b/empty"})
	vals, errs, _, err := e.svc.BatchGetSecretValue(ctx, e.root(), []string{"b/one", "c/three", "missing"}, nil, 0, "")
	if err != nil || len(vals) != 2 || len(errs) != 1 || errs[0].Code != "ResourceNotFoundException" {
		t.Fatalf("by ids: %v %v %v", vals, errs, err)
	}
	vals, errs, _, err = e.svc.BatchGetSecretValue(ctx, e.root(), nil, []Filter{{Key: "name", Values: []string{"b/"}}}, 0, "")
	if err != nil || len(vals) != 2 || len(errs) != 1 {
		t.Fatalf("by filter: %d values %v %v", len(vals), errs, err)
	}
	if _, _, _, err := e.svc.BatchGetSecretValue(ctx, e.root(), []string{"x"}, []Filter{{Key: "name", Values: []string{"b"}}}, 0, ""); codeOf(err) != "InvalidParameterException" {
		t.Fatalf("both: %v", err)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e, "t", "v")
	if err := e.svc.TagResource(ctx, e.root(), "t", []Tag{{"a", "1"}, {"b", "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.TagResource(ctx, e.root(), "t", []Tag{{"a", "3"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UntagResource(ctx, e.root(), "t", []string{"b"}); err != nil {
		t.Fatal(err)
	}
	m, _ := e.svc.DescribeSecret(ctx, e.root(), "t")
	if fmt.Sprint(m.Tags) != "[{a 3}]" {
		t.Fatalf("tags %v", m.Tags)
	}
	if err := e.svc.TagResource(ctx, e.root(), "t", []Tag{{"aws:x", "1"}}); codeOf(err) != "InvalidParameterException" {
		t.Fatalf("aws: prefix: %v", err)
	}
}
