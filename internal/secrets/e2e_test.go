package secrets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/bulwarkd/bulwark/internal/secrets"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

func TestE2EOperations(t *testing.T) {
	srv, sm := start(t)
	ctx := context.Background()
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: strp("mesh/client-cert"), SecretString: strp("v1"), Description: strp("client certificate"),
		Tags: []types.Tag{{Key: strp("app"), Value: strp("color")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ARN)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:111122223333:secret:mesh/client-cert-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:111122223333:secret:mesh/client-cert-")+6 {
		t.Fatalf("ARN %s", arn)
	}
	// Stage movement across several PutSecretValue calls.
	var versions []string
	versions = append(versions, aws.ToString(created.VersionId))
	for _, v := range []string{"v2", "v3", "v4"} {
		out, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: strp("mesh/client-cert"), SecretString: strp(v)})
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, aws.ToString(out.VersionId))
	}
	for _, tc := range []struct{ id, stage, vid, want string }{
		{"mesh/client-cert", "", "", "v4"},
		{arn, "AWSPREVIOUS", "", "v3"},
		{strings.TrimSuffix(arn, arn[len(arn)-7:]), "", versions[0], "v1"},
	} {
		in := &secretsmanager.GetSecretValueInput{SecretId: &tc.id}
		if tc.stage != "" {
			in.VersionStage = &tc.stage
		}
		if tc.vid != "" {
			in.VersionId = &tc.vid
		}
		out, err := sm.GetSecretValue(ctx, in)
		if err != nil || aws.ToString(out.SecretString) != tc.want {
			t.Fatalf("get %+v: %v %v", tc, err, out)
		}
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.VersionIdsToStages) != 2 || desc.VersionIdsToStages[versions[3]][0] != "AWSCURRENT" || desc.VersionIdsToStages[versions[2]][0] != "AWSPREVIOUS" {
		t.Fatalf("stages %v", desc.VersionIdsToStages)
	}
	if aws.ToString(desc.Description) != "client certificate" || len(desc.Tags) != 1 || desc.CreatedDate == nil {
		t.Fatalf("describe %+v", desc)
	}
	lv, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: &arn, IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(lv.Versions) != 4 {
		t.Fatalf("versions: %v %v", err, lv)
	}
	// Custom label, then move AWSCURRENT with UpdateSecretVersionStage.
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: &arn, VersionStage: strp("AWSCURRENT"), RemoveFromVersionId: &versions[3], MoveToVersionId: &versions[1]}); err != nil {
		t.Fatal(err)
	}
	if out, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn}); aws.ToString(out.SecretString) != "v2" {
		t.Fatal("AWSCURRENT did not move")
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: &arn, VersionStage: strp("AWSCURRENT"), MoveToVersionId: &versions[0]}); errCode(err) != "InvalidParameterException" {
		t.Fatalf("move without RemoveFromVersionId: %v", err)
	}
	upd, err := sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: &arn, Description: strp("new"), SecretBinary: []byte{1, 2, 3}})
	if err != nil || upd.VersionId == nil {
		t.Fatalf("update: %v", err)
	}
	if out, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn}); !bytes.Equal(out.SecretBinary, []byte{1, 2, 3}) || out.SecretString != nil {
		t.Fatalf("binary current: %+v", out)
	}
	// Tags.
	if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: &arn, Tags: []types.Tag{{Key: strp("tier"), Value: strp("gold")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: &arn, TagKeys: []string{"app"}}); err != nil {
		t.Fatal(err)
	}
	// ListSecrets with a filter and pagination.
	for i := 0; i < 3; i++ {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp(fmt.Sprintf("list/%d", i)), SecretString: strp("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := secretsmanager.NewListSecretsPaginator(sm, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(2), SortBy: types.SortByTypeName, Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"list/"}}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.SecretList {
			names = append(names, aws.ToString(e.Name))
		}
	}
	if fmt.Sprint(names) != "[list/0 list/1 list/2]" {
		t.Fatalf("listed %v", names)
	}
	tagged, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeTagValue, Values: []string{"gold"}}}})
	if err != nil || len(tagged.SecretList) != 1 || len(tagged.SecretList[0].SecretVersionsToStages) == 0 {
		t.Fatalf("tag filter: %v %+v", err, tagged)
	}
	// BatchGetSecretValue by ids and by filter.
	bg, err := sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"list/0", "list/1", "nope"}})
	if err != nil || len(bg.SecretValues) != 2 || len(bg.Errors) != 1 || aws.ToString(bg.Errors[0].ErrorCode) != "ResourceNotFoundException" {
		t.Fatalf("batch: %v %+v", err, bg)
	}
	bg, err = sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"list/"}}}})
	if err != nil || len(bg.SecretValues) != 3 {
		t.Fatalf("batch by filter: %v %+v", err, bg)
	}
	// Random password with every parameter.
	pw, err := sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(40), ExcludeCharacters: strp("abc"), ExcludePunctuation: aws.Bool(true), IncludeSpace: aws.Bool(true), RequireEachIncludedType: aws.Bool(true)})
	if err != nil || len(aws.ToString(pw.RandomPassword)) != 40 || strings.ContainsAny(*pw.RandomPassword, "abc!#") || !strings.Contains(*pw.RandomPassword, " ") {
		t.Fatalf("password: %v %v", err, pw)
	}
	if _, err := sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(2)}); errCode(err) != "InvalidParameterException" {
		t.Fatalf("impossible password: %v", err)
	}
	// Resource policies.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/x"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	v, err := sm.ValidateResourcePolicy(ctx, &secretsmanager.ValidateResourcePolicyInput{ResourcePolicy: &doc, SecretId: &arn})
	if err != nil || !v.PolicyValidationPassed {
		t.Fatalf("validate: %v %+v", err, v)
	}
	v, err = sm.ValidateResourcePolicy(ctx, &secretsmanager.ValidateResourcePolicyInput{ResourcePolicy: strp(`{"Statement":[{"Effect":"Allow","Action":"x:y","Resource":"*"}]}`)})
	if err != nil || v.PolicyValidationPassed || len(v.ValidationErrors) != 1 {
		t.Fatalf("validate bad: %v %+v", err, v)
	}
	if _, err := sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: &arn, ResourcePolicy: &doc}); err != nil {
		t.Fatal(err)
	}
	gp, err := sm.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: &arn})
	if err != nil || aws.ToString(gp.ResourcePolicy) != doc {
		t.Fatalf("get policy: %v", err)
	}
	if _, err := sm.DeleteResourcePolicy(ctx, &secretsmanager.DeleteResourcePolicyInput{SecretId: &arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: &arn, ResourcePolicy: strp("{not json")}); errCode(err) != "MalformedPolicyDocumentException" {
		t.Fatalf("malformed: %v", err)
	}
	// Replication is refused clearly.
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("rep"), AddReplicaRegions: []types.ReplicaRegionType{{Region: strp("eu-west-1")}}}); errCode(err) != "InvalidRequestException" {
		t.Fatalf("replica: %v", err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: strp("nope")}); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("missing: %v", err)
	}
	_ = srv
}

func TestE2EIdempotencyTokens(t *testing.T) {
	_, sm := start(t)
	ctx := context.Background()
	token := "0123456789abcdef0123456789abcdef"
	in := &secretsmanager.CreateSecretInput{Name: strp("idem"), SecretString: strp("a"), ClientRequestToken: &token}
	a, err := sm.CreateSecret(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sm.CreateSecret(ctx, in)
	if err != nil || aws.ToString(b.ARN) != aws.ToString(a.ARN) || aws.ToString(b.VersionId) != token {
		t.Fatalf("retry: %v %+v", err, b)
	}
	put := &secretsmanager.PutSecretValueInput{SecretId: strp("idem"), SecretString: strp("b"), ClientRequestToken: strp("11111111111111111111111111111111")}
	for i := 0; i < 2; i++ {
		if _, err := sm.PutSecretValue(ctx, put); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	put.SecretString = strp("c")
	if _, err := sm.PutSecretValue(ctx, put); errCode(err) != "ResourceExistsException" {
		t.Fatalf("same token other value: %v", err)
	}
	lv, _ := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: strp("idem")})
	if len(lv.Versions) != 2 {
		t.Fatalf("%d versions, want 2", len(lv.Versions))
	}
}

func TestE2EDeletionWindow(t *testing.T) {
	srv, sm := start(t)
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("gone"), SecretString: strp("v")}); err != nil {
		t.Fatal(err)
	}
	d, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: strp("gone"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil || d.DeletionDate == nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: strp("gone")}); errCode(err) != "InvalidRequestException" {
		t.Fatalf("read while scheduled: %v", err)
	}
	ls, _ := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true), Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"gone"}}}})
	if len(ls.SecretList) != 1 || ls.SecretList[0].DeletedDate == nil {
		t.Fatalf("planned deletion not listed: %+v", ls)
	}
	srv.Clock.Advance(3 * 24 * time.Hour)
	if _, err := sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: strp("gone")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: strp("gone")}); err != nil {
		t.Fatalf("after restore: %v", err)
	}
	if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: strp("gone"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	srv.Clock.Advance(7*24*time.Hour + time.Minute)
	if _, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: strp("gone")}); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("after the window: %v", err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("gone"), SecretString: strp("new")}); err != nil {
		t.Fatalf("name reuse after purge: %v", err)
	}
	if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: strp("gone"), RecoveryWindowInDays: aws.Int64(31)}); errCode(err) != "InvalidParameterException" {
		t.Fatalf("31 days: %v", err)
	}
	if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: strp("gone"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: strp("gone")}); errCode(err) != "ResourceNotFoundException" {
		t.Fatalf("after force delete: %v", err)
	}
}

func TestE2EResourcePolicyAllowsOneDeniesAnother(t *testing.T) {
	srv, sm := start(t)
	ctx := context.Background()
	alice, aliceARN := userClient(t, srv, "alice", "")
	bob, bobARN := userClient(t, srv, "bob", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`)
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("shared"), SecretString: strp("s3cr3t")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("alice without any policy: %v", err)
	}
	if _, err := bob.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); err != nil {
		t.Fatalf("bob before the deny: %v", err)
	}
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":%q},"Action":"secretsmanager:GetSecretValue","Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":%q},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`, aliceARN, bobARN)
	if _, err := sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: out.ARN, ResourcePolicy: &doc, BlockPublicPolicy: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	got, err := alice.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
	if err != nil || aws.ToString(got.SecretString) != "s3cr3t" {
		t.Fatalf("alice allowed by the resource policy: %v", err)
	}
	if _, err := bob.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("bob denied by the resource policy: %v", err)
	}
}

// TestE2EKMSDecryptRequired: allowed secretsmanager:GetSecretValue but not
// kms:Decrypt on the secret's customer-managed key means refused.
func TestE2EKMSDecryptRequired(t *testing.T) {
	srv, sm := start(t)
	ctx := context.Background()
	km := awskms.NewFromConfig(srv.AWSConfig())
	key, err := km.CreateKey(ctx, &awskms.CreateKeyInput{Description: strp("secrets key")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("cmk"), SecretString: strp("v"), KmsKeyId: key.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	carol, _ := userClient(t, srv, "carol", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`)
	dave, _ := userClient(t, srv, "dave", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}]}`)
	if _, err := carol.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("carol without kms:Decrypt: %v", err)
	}
	if _, err := dave.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); err != nil {
		t.Fatalf("dave with kms:Decrypt: %v", err)
	}
	// And again for carol after dave warmed the data-key cache.
	if _, err := carol.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("carol after the cache is warm: %v", err)
	}
	// Revoking dave's kms:Decrypt through the key policy takes effect at
	// once, although his data key is in the cache: every cache hit is
	// re-authorized by KMS.
	deny := `{"Version":"2012-10-17","Statement":[
	  {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + servertest.AccountID + `:root"},"Action":"kms:*","Resource":"*"},
	  {"Sid":"nodave","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + servertest.AccountID + `:user/dave"},"Action":"kms:Decrypt","Resource":"*"}]}`
	if _, err := km.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, Policy: &deny}); err != nil {
		t.Fatal(err)
	}
	if _, err := dave.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("dave after his kms:Decrypt was revoked, with a warm cache: %v", err)
	}
	lv, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: out.ARN})
	if err != nil || len(lv.Versions) != 1 || len(lv.Versions[0].KmsKeyIds) != 1 || !strings.HasSuffix(lv.Versions[0].KmsKeyIds[0], aws.ToString(key.KeyMetadata.KeyId)) {
		t.Fatalf("version key: %v %+v", err, lv)
	}
}

// rotationEndpoint is a rotation "function" over HTTP following the
// four-step protocol, calling back into Secrets Manager with sm.
func rotationEndpoint(t *testing.T, sm *secretsmanager.Client, steps *[]string) *httptest.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev secrets.RotationEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		*steps = append(*steps, ev.Step)
		ctx := r.Context()
		var err error
		switch ev.Step {
		case "createSecret":
			var pw *secretsmanager.GetRandomPasswordOutput
			if pw, err = sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{}); err == nil {
				_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &ev.SecretID, ClientRequestToken: &ev.ClientRequestToken, SecretString: pw.RandomPassword, VersionStages: []string{"AWSPENDING"}})
			}
		case "setSecret", "testSecret":
			_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &ev.SecretID, VersionId: &ev.ClientRequestToken, VersionStage: strp("AWSPENDING")})
		case "finishSecret":
			var d *secretsmanager.DescribeSecretOutput
			if d, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretID}); err == nil {
				cur := ""
				for id, st := range d.VersionIdsToStages {
					for _, s := range st {
						if s == "AWSCURRENT" {
							cur = id
						}
					}
				}
				_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: &ev.SecretID, VersionStage: strp("AWSCURRENT"), MoveToVersionId: &ev.ClientRequestToken, RemoveFromVersionId: &cur})
			}
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func TestE2ERotation(t *testing.T) {
	srv, sm := start(t)
	ctx := context.Background()
	var steps []string
	ep := rotationEndpoint(t, sm, &steps)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("rot"), SecretString: strp("initial")}); err != nil {
		t.Fatal(err)
	}
	// Rotation never configured: RotationEnabled is absent (null), not false.
	if d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: strp("rot")}); err != nil || d.RotationEnabled != nil {
		t.Fatalf("before any rotation RotationEnabled = %v (%v), want absent", d.RotationEnabled, err)
	}
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: strp("rot"), RotationLambdaARN: strp("arn:aws:lambda:us-east-1:111122223333:function:f")}); errCode(err) != "InvalidParameterException" {
		t.Fatalf("lambda ARN: %v", err)
	}
	rot, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: strp("rot"), RotationLambdaARN: &ep.URL, RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(10)}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(steps) != "[createSecret setSecret testSecret finishSecret]" {
		t.Fatalf("steps %v", steps)
	}
	cur, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: strp("rot")})
	prev, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: strp("rot"), VersionStage: strp("AWSPREVIOUS")})
	if aws.ToString(cur.VersionId) != aws.ToString(rot.VersionId) || len(aws.ToString(cur.SecretString)) != 32 || aws.ToString(prev.SecretString) != "initial" {
		t.Fatalf("after rotation: current %+v previous %+v", cur, prev)
	}
	if fmt.Sprint(cur.VersionStages) != "[AWSCURRENT]" {
		t.Fatalf("AWSPENDING left on the new current version: %v", cur.VersionStages)
	}
	d, _ := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: strp("rot")})
	if !aws.ToBool(d.RotationEnabled) || d.LastRotatedDate == nil || d.NextRotationDate == nil || d.NextRotationDate.Sub(*d.LastRotatedDate) != 10*24*time.Hour {
		t.Fatalf("rotation metadata %+v", d)
	}
	// A scheduled rotation runs when the clock reaches NextRotationDate.
	loop := secrets.New(secrets.Config{Store: srv.Store(), AccountID: servertest.AccountID, Region: servertest.Region, Clock: srv.Clock})
	if n, err := loop.RotateDue(ctx); n != 0 || err != nil {
		t.Fatalf("rotated before due: %d %v", n, err)
	}
	srv.Clock.Advance(10*24*time.Hour + time.Minute)
	if n, err := loop.RotateDue(ctx); n != 1 || err != nil {
		t.Fatalf("due rotation: %d %v", n, err)
	}
	lv, _ := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: strp("rot")})
	var stages []string
	for _, v := range lv.Versions {
		stages = append(stages, v.VersionStages...)
	}
	sort.Strings(stages)
	if fmt.Sprint(stages) != "[AWSCURRENT AWSPREVIOUS]" || len(steps) != 8 {
		t.Fatalf("after the scheduled rotation: %v, %d steps", stages, len(steps))
	}
	if _, err := sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: strp("rot")}); err != nil {
		t.Fatal(err)
	}
	// After CancelRotateSecret AWS answers RotationEnabled: false, present,
	// in DescribeSecret and in ListSecrets.
	d, _ = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: strp("rot")})
	if d.RotationEnabled == nil || *d.RotationEnabled {
		t.Fatalf("after CancelRotateSecret RotationEnabled = %v, want false", d.RotationEnabled)
	}
	l, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"rot"}}}})
	if err != nil || len(l.SecretList) != 1 || l.SecretList[0].RotationEnabled == nil || *l.SecretList[0].RotationEnabled {
		t.Fatalf("ListSecrets after CancelRotateSecret: %+v, %v", l, err)
	}
}

// TestE2EValuesNotInAuditLog writes and reads values through every path
// that carries one and checks the audit log never holds them.
func TestE2EValuesNotInAuditLog(t *testing.T) {
	srv, sm := start(t)
	ctx := context.Background()
	marks := []string{"MARK-create-7f3a", "MARK-put-9c1e", "MARK-update-4d2b"}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("audited"), SecretString: &marks[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: strp("audited"), SecretBinary: []byte(marks[1])}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: strp("audited"), SecretString: &marks[2]}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"AWSCURRENT", "AWSPREVIOUS"} {
		if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: strp("audited"), VersionStage: &st}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"audited"}}); err != nil {
		t.Fatal(err)
	}
	pw, err := sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(64)})
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte("GetSecretValue")) || !bytes.Contains(log, []byte("HIDDEN_DUE_TO_SECURITY_REASONS")) {
		t.Fatal("the audit log does not record the calls; the scan below would prove nothing")
	}
	secretsSeen := append(marks, *pw.RandomPassword, "TUFSSy1wdXQtOWMxZQ") // base64 of the binary mark's prefix
	for _, m := range secretsSeen {
		if bytes.Contains(log, []byte(m)) {
			t.Errorf("audit log contains %q", m)
		}
	}
}
