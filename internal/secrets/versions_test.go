package secrets

import (
	"bytes"
	"context"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

var arnRE = regexp.MustCompile(`^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$`)

func stagesOf(m *Secret) map[string][]string {
	out := m.stageMap()
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func TestStageMovementAcrossPuts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m, v1, err := e.svc.CreateSecret(ctx, e.root(), CreateInput{Name: "app/db", Token: tok(1), Value: strValue("one")})
	if err != nil {
		t.Fatal(err)
	}
	if v1 != tok(1) {
		t.Fatalf("version id %q, want the token", v1)
	}
	var ids []string
	for i, val := range []string{"two", "three", "four"} {
		res, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "app/db", Token: tok(10 + i), Value: Value{String: str(val)}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.Stages, []string{stageCurrent}) {
			t.Fatalf("put %s: stages %v", val, res.Stages)
		}
		ids = append(ids, res.VersionID)
	}
	m, _ = e.svc.DescribeSecret(ctx, e.root(), m.ARN)
	want := map[string][]string{ids[2]: {stageCurrent}, ids[1]: {stagePrevious}}
	if got := stagesOf(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("stages %v, want %v", got, want)
	}
	if got := *mustGet(t, e, e.root(), "app/db", "", "").Value.String; got != "four" {
		t.Fatalf("current = %q", got)
	}
	if got := *mustGet(t, e, e.root(), "app/db", "", stagePrevious).Value.String; got != "three" {
		t.Fatalf("previous = %q", got)
	}
	if got := *mustGet(t, e, e.root(), "app/db", v1, "").Value.String; got != "one" {
		t.Fatalf("deprecated version by id = %q", got)
	}

	// A pending version with a custom label leaves AWSCURRENT alone.
	res, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "app/db", Token: tok(20), Value: Value{String: str("five")}, Stages: []string{stagePending, "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	pend, stages := res.VersionID, res.Stages
	sort.Strings(stages)
	if !reflect.DeepEqual(stages, []string{stagePending, "blue"}) {
		t.Fatalf("pending stages %v", stages)
	}
	if got := *mustGet(t, e, e.root(), "app/db", "", "").Value.String; got != "four" {
		t.Fatalf("current moved to %q", got)
	}
	if got := *mustGet(t, e, e.root(), "app/db", "", "blue").Value.String; got != "five" {
		t.Fatalf("blue = %q", got)
	}

	// Moving AWSCURRENT by UpdateSecretVersionStage makes the old current AWSPREVIOUS.
	if _, err := e.svc.UpdateSecretVersionStage(ctx, e.root(), "app/db", stageCurrent, ids[2], pend); err != nil {
		t.Fatal(err)
	}
	m, _ = e.svc.DescribeSecret(ctx, e.root(), "app/db")
	want = map[string][]string{pend: {stageCurrent, stagePending, "blue"}, ids[2]: {stagePrevious}}
	for _, v := range want {
		sort.Strings(v)
	}
	if got := stagesOf(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("after move: %v, want %v", got, want)
	}
	_, vs, _, err := e.svc.ListSecretVersionIds(ctx, e.root(), "app/db", false, 0, "")
	if err != nil || len(vs) != 2 {
		t.Fatalf("labelled versions %d, %v", len(vs), err)
	}
	_, vs, _, _ = e.svc.ListSecretVersionIds(ctx, e.root(), "app/db", true, 0, "")
	if len(vs) != 5 {
		t.Fatalf("all versions %d, want 5", len(vs))
	}
}

func TestUpdateSecretVersionStageErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e, "s", "v1")
	var v2, v3 string
	for _, put := range []struct {
		in PutInput
		id *string
	}{
		{PutInput{SecretID: "s", Token: tok(2), Value: Value{String: str("v2")}}, &v2},
		{PutInput{SecretID: "s", Token: tok(3), Value: Value{String: str("v3")}, Stages: []string{"custom"}}, &v3},
	} {
		res, err := e.svc.PutSecretValue(ctx, e.root(), put.in)
		if err != nil {
			t.Fatal(err)
		}
		*put.id = res.VersionID
	}
	cases := []struct {
		name, stage, from, to, code string
	}{
		{"move current without naming holder", stageCurrent, "", v3, "InvalidParameterException"},
		{"remove from wrong version", "custom", v2, "", "InvalidParameterException"},
		{"remove current", stageCurrent, v2, "", "InvalidParameterException"},
		{"move to unknown version", "custom", v3, tok(9), "InvalidParameterException"},
		{"nothing to do", "custom", "", "", "InvalidParameterException"},
		{"remove custom", "custom", v3, "", ""},
		{"attach fresh label", "green", "", v2, ""},
	}
	for _, tc := range cases {
		_, err := e.svc.UpdateSecretVersionStage(ctx, e.root(), "s", tc.stage, tc.from, tc.to)
		if got := codeOf(err); got != tc.code {
			t.Errorf("%s: code %q, want %q (%v)", tc.name, got, tc.code, err)
		}
	}
}

func TestIdempotencyTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	in := CreateInput{Name: "idem", Token: tok(1), Value: strValue("v")}
	m1, v1, err := e.svc.CreateSecret(ctx, e.root(), in)
	if err != nil {
		t.Fatal(err)
	}
	m2, v2, err := e.svc.CreateSecret(ctx, e.root(), in)
	if err != nil || m2.ARN != m1.ARN || v2 != v1 {
		t.Fatalf("retried create: %v %v %v", err, m2, v2)
	}
	in.Value = strValue("other")
	if _, _, err := e.svc.CreateSecret(ctx, e.root(), in); codeOf(err) != "ResourceExistsException" {
		t.Fatalf("create same token other value: %v", err)
	}
	in.Token = tok(2)
	if _, _, err := e.svc.CreateSecret(ctx, e.root(), in); codeOf(err) != "ResourceExistsException" {
		t.Fatalf("create existing name: %v", err)
	}
	gen := e.keys.generated.Load()
	for i := 0; i < 2; i++ {
		res, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "idem", Token: tok(3), Value: Value{String: str("p")}})
		if err != nil || res.VersionID != tok(3) {
			t.Fatalf("put %d: %v %+v", i, err, res)
		}
	}
	if got := e.keys.generated.Load() - gen; got != 1 {
		t.Fatalf("a retried put generated %d data keys, want 1", got)
	}
	if _, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "idem", Token: tok(3), Value: Value{String: str("q")}}); codeOf(err) != "ResourceExistsException" {
		t.Fatalf("same token other value: %v", err)
	}
	if _, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "idem", Token: tok(3), Value: Value{Binary: []byte("p")}}); codeOf(err) != "ResourceExistsException" {
		t.Fatalf("same token, binary with the same bytes: %v", err)
	}
	if _, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "idem", Token: "short", Value: Value{String: str("q")}}); codeOf(err) != "InvalidParameterException" {
		t.Fatalf("short token: %v", err)
	}
}

func TestLookupByNameAndARN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := mustCreate(t, e, "prod/db", "A")
	// A name that looks like another's full ARN suffix must not be confused.
	b := mustCreate(t, e, "prod/db-abcdef", "B")
	partial := strings.TrimSuffix(a.ARN, a.ARN[len(a.ARN)-7:])
	cases := []struct{ name, id, want, code string }{
		{"name", "prod/db", "A", ""},
		{"full ARN", a.ARN, "A", ""},
		{"partial ARN", partial, "A", ""},
		{"suffix-like name", "prod/db-abcdef", "B", ""},
		{"suffix-like name full ARN", b.ARN, "B", ""},
		{"partial ARN of suffix-like name", strings.TrimSuffix(b.ARN, b.ARN[len(b.ARN)-7:]), "B", ""},
		{"wrong suffix", partial + "-zzzzzz", "", "ResourceNotFoundException"},
		{"other account", strings.Replace(a.ARN, testAccount, "999999999999", 1), "", "ResourceNotFoundException"},
		{"unknown", "nope", "", "ResourceNotFoundException"},
	}
	for _, tc := range cases {
		r, err := e.svc.GetSecretValue(context.Background(), e.root(), tc.id, "", "")
		if codeOf(err) != tc.code {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.code)
			continue
		}
		if err == nil && *r.Value.String != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, *r.Value.String, tc.want)
		}
	}
	if !arnRE.MatchString(a.ARN) {
		t.Fatalf("ARN %q has not AWS's form", a.ARN)
	}
}

func TestEnvelopeEncryption(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m, vid, err := e.svc.CreateSecret(ctx, e.root(), CreateInput{Name: "env", Value: strValue("plain-text-marker")})
	if err != nil {
		t.Fatal(err)
	}
	ec := e.keys.lastContext.Load().(map[string]string)
	if !reflect.DeepEqual(ec, map[string]string{"SecretARN": m.ARN, "SecretVersionId": vid}) {
		t.Fatalf("encryption context %v", ec)
	}
	if via := e.keys.lastVia.Load().(string); via != "secretsmanager.us-east-1.amazonaws.com" {
		t.Fatalf("via %q", via)
	}
	// Neither the clear Data nor the unsealed Secret holds the value.
	for _, kind := range []string{kindSecret, kindVersion} {
		recs, _ := e.store.List(ctx, kind, store.ListOptions{})
		for _, r := range recs {
			if bytes.Contains(r.Data, []byte("plain-text-marker")) || bytes.Contains(r.Secret, []byte("plain-text-marker")) {
				t.Fatalf("%s record %s holds the plaintext", kind, r.ID)
			}
		}
	}
	// A version's ciphertext moved to another version fails authentication.
	sv, _ := e.svc.loadValue(ctx, e.store, m, vid)
	if _, err := e.svc.open(ctx, e.root(), m, "other-version", sv); err == nil {
		t.Fatal("ciphertext opened under another version id")
	}
	// Binary values round-trip as binary.
	if _, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "env", Value: Value{Binary: []byte{0, 1, 2}}}); err != nil {
		t.Fatal(err)
	}
	r := mustGet(t, e, e.root(), "env", "", "")
	if r.Value.String != nil || !bytes.Equal(r.Value.Binary, []byte{0, 1, 2}) {
		t.Fatalf("binary value %+v", r.Value)
	}
}

func TestDeletionWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e, "del", "v")
	seven := int64(7)
	bad := int64(6)
	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "del", &bad, false); codeOf(err) != "InvalidParameterException" {
		t.Fatalf("6-day window: %v", err)
	}
	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "del", &seven, true); codeOf(err) != "InvalidParameterException" {
		t.Fatalf("window and force: %v", err)
	}
	_, when, err := e.svc.DeleteSecret(ctx, e.root(), "del", &seven, false)
	if err != nil || !when.Equal(e.clock.Now().Add(7*24*time.Hour)) {
		t.Fatalf("delete: %v %v", when, err)
	}
	if _, err := e.svc.GetSecretValue(ctx, e.root(), "del", "", ""); codeOf(err) != "InvalidRequestException" {
		t.Fatalf("read of deleted: %v", err)
	}
	if _, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "del", Value: Value{String: str("x")}}); codeOf(err) != "InvalidRequestException" {
		t.Fatalf("write to deleted: %v", err)
	}
	if _, _, err := e.svc.CreateSecret(ctx, e.root(), CreateInput{Name: "del"}); codeOf(err) != "InvalidRequestException" {
		t.Fatalf("recreate while scheduled: %v", err)
	}
	if m, err := e.svc.DescribeSecret(ctx, e.root(), "del"); err != nil || m.Deleted.IsZero() {
		t.Fatalf("describe deleted: %v", err)
	}
	e.clock.Add(6 * 24 * time.Hour)
	if _, err := e.svc.RestoreSecret(ctx, e.root(), "del"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, e.root(), "del", "", "")

	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "del", &seven, false); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(7*24*time.Hour - time.Second)
	if n, _ := e.svc.PurgeDue(ctx); n != 0 {
		t.Fatal("purged before the window ended")
	}
	e.clock.Add(time.Second)
	if _, err := e.svc.DescribeSecret(ctx, e.root(), "del"); codeOf(err) != "ResourceNotFoundException" {
		t.Fatalf("after window: %v", err)
	}
	if n, err := e.svc.PurgeDue(ctx); n != 1 || err != nil {
		t.Fatalf("purge: %d %v", n, err)
	}
	if recs, _ := e.store.List(ctx, kindVersion, store.ListOptions{}); len(recs) != 0 {
		t.Fatalf("%d version records survive the purge", len(recs))
	}
	// The name is free again, with a new ARN suffix.
	mustCreate(t, e, "del", "again")
	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "del", nil, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DescribeSecret(ctx, e.root(), "del"); codeOf(err) != "ResourceNotFoundException" {
		t.Fatalf("after force delete: %v", err)
	}
}
