package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

const (
	testAccount = "111122223333"
	testRegion  = "us-east-1"
	rootARN     = "arn:aws:iam::111122223333:root"
)

// fakeKeys is an in-memory KMS: data keys wrapped with AES-GCM under one
// fixed key, bound to the encryption context, with a switch that refuses
// decryption to chosen principals.
type fakeKeys struct {
	aead        cipher.AEAD
	denied      sync.Map // principal ARN -> true
	generated   atomic.Int64
	decrypts    atomic.Int64
	lastContext atomic.Value // map[string]string
	lastVia     atomic.Value // string
}

func newFakeKeys(t testing.TB) *fakeKeys {
	b, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := cipher.NewGCM(b)
	return &fakeKeys{aead: g}
}

const fakeKeyARN = "arn:aws:kms:us-east-1:111122223333:key/fake"

func ctxAAD(ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k + "=" + ec[k] + ";")
	}
	return []byte(sb.String())
}

func (f *fakeKeys) deny(arn string) { f.denied.Store(arn, true) }

func (f *fakeKeys) GenerateDataKeyFor(ctx context.Context, c *api.Call, keyID string, ec map[string]string, via string) (string, []byte, []byte, error) {
	if _, ok := f.denied.Load(c.Principal.ARN); ok {
		return "", nil, nil, &awsproto.AccessDenied{Principal: c.Principal.ARN, Action: "kms:GenerateDataKey", Resource: fakeKeyARN}
	}
	f.generated.Add(1)
	f.lastContext.Store(ec)
	f.lastVia.Store(via)
	key := make([]byte, 32)
	rand.Read(key)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return fakeKeyARN, key, f.aead.Seal(nonce, nonce, key, ctxAAD(ec)), nil
}

func (f *fakeKeys) DecryptFor(ctx context.Context, c *api.Call, blob []byte, ec map[string]string, via string) (string, []byte, error) {
	f.decrypts.Add(1)
	if _, ok := f.denied.Load(c.Principal.ARN); ok {
		return "", nil, &awsproto.AccessDenied{Principal: c.Principal.ARN, Action: "kms:Decrypt", Resource: fakeKeyARN}
	}
	pt, err := f.aead.Open(nil, blob[:12], blob[12:], ctxAAD(ec))
	if err != nil {
		return "", nil, awsproto.Errorf("InvalidCiphertextException", "bad ciphertext or context")
	}
	return fakeKeyARN, pt, nil
}

// testAuthz evaluates with the real policy engine: root is allowed
// everything; other principals have the identity policies given.
type testAuthz struct {
	identity map[string][]*policy.Policy
}

func (a *testAuthz) Authorize(ctx context.Context, c *api.Call, req api.AuthzRequest) error {
	if c.Principal.ARN == rootARN {
		return nil
	}
	pr := &policy.Request{Principal: policy.Principal{ARN: c.Principal.ARN, AccountID: testAccount, Type: "AWS"}, Action: req.Action, Resource: req.Resource, Context: req.Context}
	if d := policy.Authorize(pr, a.identity[c.Principal.ARN], req.ResourcePolicy, req.Mode); !d.Allowed {
		return &awsproto.AccessDenied{Principal: c.Principal.ARN, Action: req.Action, Resource: req.Resource, Reason: d.Reason}
	}
	return nil
}

type env struct {
	svc   *Service
	keys  *fakeKeys
	clock *clock.Fake
	authz *testAuthz
	store store.Store
}

func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	clock := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st := storetest.SQLite(t, "", store.WithClock(clock.Now))
	keys := newFakeKeys(t)
	cfg := Config{Store: st, Keys: keys, AccountID: testAccount, Region: testRegion, Clock: clock}
	for _, m := range mod {
		m(&cfg)
	}
	return &env{svc: New(cfg), keys: keys, clock: clock, authz: &testAuthz{identity: map[string][]*policy.Policy{}}, store: st}
}

// call returns a call made by principal arn.
func (e *env) call(arn string) *api.Call {
	c := api.NewCall(e.authz)
	c.Principal = api.Principal{ARN: arn, AccountID: testAccount, Type: api.IAMUser}
	if arn == rootARN {
		c.Principal.Type = api.Root
	}
	c.AccountID, c.Region, c.RequestID = testAccount, testRegion, "req"
	c.Time = e.clock.Now()
	return c
}

func (e *env) root() *api.Call { return e.call(rootARN) }

func str(s string) *string { return &s }

func strValue(s string) *Value { return &Value{String: str(s)} }

// codeOf returns the AWS code of a domain or wire error ("" for nil).
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	err = errorTable.Convert(err)
	var ad *awsproto.AccessDenied
	if errors.As(err, &ad) {
		return awsproto.CodeAccessDenied
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return "internal: " + err.Error()
}

func tok(n int) string { return strings.Repeat(string(rune('a'+n%26)), 36) }

func mustCreate(t *testing.T, e *env, name, value string) *Secret {
	t.Helper()
	m, _, err := e.svc.CreateSecret(context.Background(), e.root(), CreateInput{Name: name, Value: strValue(value)})
	if err != nil {
		t.Fatalf("CreateSecret(%s): %v", name, err)
	}
	return m
}

func mustGet(t *testing.T, e *env, c *api.Call, id, vid, stage string) *GetResult {
	t.Helper()
	r, err := e.svc.GetSecretValue(context.Background(), c, id, vid, stage)
	if err != nil {
		t.Fatalf("GetSecretValue(%s,%s,%s): %v", id, vid, stage, err)
	}
	return r
}
