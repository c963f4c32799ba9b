package secrets

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/ttlcache"
)

func getString(t *testing.T, e *env, id string) string {
	t.Helper()
	r := mustGet(t, e, e.root(), id, "", "")
	if r.Value.String == nil {
		t.Fatalf("GetSecretValue(%s): no string", id)
	}
	return *r.Value.String
}

// TestMetadataCacheLocalWritesSeenAtOnce: every kind of write through this
// Service is seen by the next GetSecretValue, with no clock movement.
func TestMetadataCacheLocalWritesSeenAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := mustCreate(t, e, "hot", "one")
	for _, id := range []string{"hot", m.ARN} { // both spellings cached
		if got := getString(t, e, id); got != "one" {
			t.Fatalf("%s: %q", id, got)
		}
	}
	if _, err := e.svc.PutSecretValue(ctx, e.root(), PutInput{SecretID: "hot", Value: Value{String: str("two")}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"hot", m.ARN} {
		if got := getString(t, e, id); got != "two" {
			t.Fatalf("%s after PutSecretValue: %q (cached record served past a local write)", id, got)
		}
	}
	// A resource policy denying alice bites at once.
	idp, _ := policy.ParseIdentity([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`))
	e.authz.identity[alice] = []*policy.Policy{idp}
	mustGet(t, e, e.call(alice), "hot", "", "")
	deny := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":%q},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`, alice)
	if _, err := e.svc.PutResourcePolicy(ctx, e.root(), "hot", deny, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSecretValue(ctx, e.call(alice), "hot", "", ""); codeOf(err) != "AccessDeniedException" {
		t.Fatalf("after a local Deny: %v", err)
	}
	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "hot", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSecretValue(ctx, e.root(), "hot", "", ""); codeOf(err) != "InvalidRequestException" {
		t.Fatalf("after DeleteSecret: %v", err)
	}
	if _, err := e.svc.RestoreSecret(ctx, e.root(), "hot"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, e.root(), "hot", "", "")
	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "hot", nil, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSecretValue(ctx, e.root(), "hot", "", ""); codeOf(err) != "ResourceNotFoundException" {
		t.Fatalf("after a forced delete: %v", err)
	}
}

// TestMetadataCacheCrossServerBound: two Services sharing one store, as
// two servers sharing one database. A change through the other is served
// stale here strictly less than MetadataCacheTTL, never at or after it.
func TestMetadataCacheCrossServerBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := New(Config{Store: e.store, Keys: e.keys, AccountID: testAccount, Region: testRegion, Clock: e.clock})
	ctx := context.Background()
	mustCreate(t, e, "shared", "one")
	// The first read also records the access date (a write, which clears
	// the cache); the second fills it.
	for range 2 {
		if got := getString(t, e, "shared"); got != "one" {
			t.Fatal(got)
		}
	}
	if _, err := other.PutSecretValue(ctx, e.root(), PutInput{SecretID: "shared", Value: Value{String: str("two")}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(DefaultMetadataCacheTTL - time.Nanosecond)
	if got := getString(t, e, "shared"); got != "one" {
		t.Fatalf("within the TTL: %q; the record was not cached", got)
	}
	e.clock.Add(time.Nanosecond)
	if got := getString(t, e, "shared"); got != "two" {
		t.Fatalf("at the TTL: %q, want the other server's write", got)
	}
	// A deletion through the other server is seen within the bound too.
	if _, _, err := other.DeleteSecret(ctx, e.root(), "shared", nil, false); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(DefaultMetadataCacheTTL)
	if _, err := e.svc.GetSecretValue(ctx, e.root(), "shared", "", ""); codeOf(err) != "InvalidRequestException" {
		t.Fatalf("deleted on the other server, after the TTL: %v", err)
	}
}

// TestMetadataCacheDisabled: a negative TTL reads the store every time.
func TestMetadataCacheDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MetadataCacheTTL = -1 })
	other := New(Config{Store: e.store, Keys: e.keys, AccountID: testAccount, Region: testRegion, Clock: e.clock})
	mustCreate(t, e, "s", "one")
	getString(t, e, "s")
	if _, err := other.PutSecretValue(context.Background(), e.root(), PutInput{SecretID: "s", Value: Value{String: str("two")}}); err != nil {
		t.Fatal(err)
	}
	if got := getString(t, e, "s"); got != "two" {
		t.Fatalf("cache disabled, yet %q", got)
	}
}

// TestMetadataCacheFillRace: a record read before a write finished must
// not be stored after the write cleared the cache.
func TestMetadataCacheFillRace(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Unix(0, 0) }
	m := &metaCache{c: ttlcache.New[*Secret](8, 0, time.Second, now, nil, nil)}
	gen := m.generation()
	m.invalidate() // a write finished while the reader was in the store
	m.put("s", &Secret{Name: "old"}, gen)
	if _, ok := m.c.Get("s"); ok {
		t.Fatal("a fill older than a write was cached")
	}
	m.put("s", &Secret{Name: "new"}, m.generation())
	if v, ok := m.c.Get("s"); !ok || v.Name != "new" {
		t.Fatal("a current fill was not cached")
	}
}

// TestMetadataCachePurgeOnHit: a cached secret whose recovery window ends
// is not found, without waiting for the entry to expire.
func TestMetadataCachePurgeOnHit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MetadataCacheTTL = time.Hour })
	ctx := context.Background()
	mustCreate(t, e, "p", "v")
	week := int64(7)
	if _, _, err := e.svc.DeleteSecret(ctx, e.root(), "p", &week, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSecretValue(ctx, e.root(), "p", "", ""); codeOf(err) != "InvalidRequestException" {
		t.Fatalf("scheduled: %v", err)
	}
	e.clock.Add(7 * 24 * time.Hour)
	if _, err := e.svc.GetSecretValue(ctx, e.root(), "p", "", ""); codeOf(err) != "ResourceNotFoundException" {
		t.Fatalf("after the window: %v", err)
	}
}
