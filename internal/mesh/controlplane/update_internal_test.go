package controlplane

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/bulwarkd/bulwark/internal/store"
	"github.com/bulwarkd/bulwark/internal/store/storetest"
)

// collidingStore makes the next `conflicts` record updates fail with
// store.ErrConflict, as they do when another replica sharing the database
// wrote the record between this one's read and write.
type collidingStore struct {
	store.Store
	conflicts atomic.Int32
}

func (s *collidingStore) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(collidingTx{tx, s}) })
}

type collidingTx struct {
	store.Tx
	s *collidingStore
}

func (t collidingTx) Update(ctx context.Context, r *store.Record) error {
	if t.s.conflicts.Add(-1) >= 0 {
		return store.ErrConflict
	}
	return t.Tx.Update(ctx, r)
}

func newCollidingService(t *testing.T) (*Service, *collidingStore) {
	t.Helper()
	st := &collidingStore{Store: storetest.SQLite(t, "")}
	return New(Config{Store: st, AccountID: "111122223333", Region: "eu-west-1"}), st
}

// TestWritesRetryCollisions: spec updates and tag changes are
// read-modify-writes on store.Update, so a write that loses to another
// replica is retried (the version still goes up by one) instead of
// failing, and only writers that keep losing get ConflictException.
func TestWritesRetryCollisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mesh := Key{Mesh: "m"}
	tests := []struct {
		name      string
		conflicts int32
		write     func(s *Service) error
		check     func(t *testing.T, r *Resource)
		wantErr   error
	}{
		{"update after two collisions", 2, func(s *Service) error {
			_, err := s.Update(ctx, WriteRequest{Kind: KindMesh, Key: mesh, Spec: []byte(`{"egressFilter":{"type":"ALLOW_ALL"}}`)})
			return err
		}, func(t *testing.T, r *Resource) {
			if r.Version != 2 || string(r.Spec) != `{"egressFilter":{"type":"ALLOW_ALL"}}` {
				t.Errorf("version %d spec %s, want 2 and the new spec", r.Version, r.Spec)
			}
		}, nil},
		{"tag after three collisions", 3, func(s *Service) error {
			return s.TagResource(ctx, KindMesh, mesh, []Tag{{"team", "blue"}})
		}, func(t *testing.T, r *Resource) {
			if !slices.Equal(r.Tags, []Tag{{"a", "1"}, {"team", "blue"}}) || r.Version != 1 {
				t.Errorf("tags %v version %d", r.Tags, r.Version)
			}
		}, nil},
		{"untag after one collision", 1, func(s *Service) error {
			return s.UntagResource(ctx, KindMesh, mesh, []string{"a"})
		}, func(t *testing.T, r *Resource) {
			if len(r.Tags) != 0 {
				t.Errorf("tags %v, want none", r.Tags)
			}
		}, nil},
		{"update that keeps colliding", 1000, func(s *Service) error {
			_, err := s.Update(ctx, WriteRequest{Kind: KindMesh, Key: mesh, Spec: []byte(`{}`)})
			return err
		}, func(t *testing.T, r *Resource) {
			if r.Version != 1 {
				t.Errorf("version %d after a refused update", r.Version)
			}
		}, ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, st := newCollidingService(t)
			if _, err := s.Create(ctx, WriteRequest{Kind: KindMesh, Key: mesh, Tags: []Tag{{"a", "1"}}}); err != nil {
				t.Fatal(err)
			}
			st.conflicts.Store(tc.conflicts)
			if err := tc.write(s); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			st.conflicts.Store(0)
			r, err := s.Describe(ctx, KindMesh, mesh)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

// TestTagsFollowTheSharedRules: App Mesh applies the same tag rules as
// every other service (internal/tagging), including the reserved aws:
// prefix in any case, which its own check used to let through.
func TestTagsFollowTheSharedRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newCollidingService(t)
	if _, err := s.Create(ctx, WriteRequest{Kind: KindMesh, Key: Key{Mesh: "m"}}); err != nil {
		t.Fatal(err)
	}
	for _, tags := range [][]Tag{{{"AWS:team", "x"}}, {{"", "x"}}, {{"k", "a$b"}}, {{"k", "1"}, {"k", "2"}}} {
		if _, err := s.Create(ctx, WriteRequest{Kind: KindMesh, Key: Key{Mesh: "other"}, Tags: tags}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("create with %v: %v, want BadRequest", tags, err)
		}
		if err := s.TagResource(ctx, KindMesh, Key{Mesh: "m"}, tags); !errors.Is(err, ErrBadRequest) {
			t.Errorf("tag with %v: %v, want BadRequest", tags, err)
		}
	}
	if err := s.UntagResource(ctx, KindMesh, Key{Mesh: "m"}, []string{"bad#key"}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("untag a malformed key: %v", err)
	}
	if err := s.TagResource(ctx, KindMesh, Key{Mesh: "missing"}, []Tag{{"k", "v"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag a missing mesh: %v", err)
	}
}
