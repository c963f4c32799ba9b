package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkd/bulwark/internal/store"
)

// Tag is an App Mesh tag (TagRef).
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Resource is one stored App Mesh resource of any kind: the clear-text
// Data of its store record (App Mesh holds nothing secret; specs name
// certificates and files, never keys).
type Resource struct {
	Kind Kind `json:"kind"`
	Key  Key  `json:"key"`
	// Spec is the validated spec as the client sent it, compacted.
	Spec json.RawMessage `json:"spec"`
	Tags []Tag           `json:"tags,omitempty"`
	UID  string          `json:"uid"`
	// Version is App Mesh's metadata.version: 1 at creation, one more per
	// update.
	Version int64     `json:"version"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// CreateToken/CreateHash and UpdateToken/UpdateHash make Create and
	// Update idempotent per clientToken: a replay with the same request is
	// answered with the resource, a different request is a conflict.
	CreateToken string `json:"createToken,omitempty"`
	CreateHash  string `json:"createHash,omitempty"`
	UpdateToken string `json:"updateToken,omitempty"`
	UpdateHash  string `json:"updateHash,omitempty"`

	rev int64 // store record version, for optimistic updates
}

func decodeResource(r *store.Record) (*Resource, error) {
	res := &Resource{}
	if err := json.Unmarshal(r.Data, res); err != nil {
		return nil, fmt.Errorf("appmesh: decode %s %s: %w", r.Kind, r.ID, err)
	}
	res.rev = r.Version
	return res, nil
}

func (r *Resource) record() (*store.Record, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &store.Record{Kind: kinds[r.Kind].storeKind, ID: r.Key.id(r.Kind), Data: b, Version: r.rev}, nil
}

// get reads one resource; a missing one is NotFoundException.
func get(ctx context.Context, rd store.Reader, kind Kind, k Key) (*Resource, error) {
	rec, err := rd.Get(ctx, kinds[kind].storeKind, k.id(kind))
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(kind, k)
	}
	if err != nil {
		return nil, err
	}
	return decodeResource(rec)
}

func notFound(kind Kind, k Key) error {
	switch {
	case kind == KindMesh:
		return fmt.Errorf("%w: Mesh %s does not exist.", ErrNotFound, k.Mesh)
	case kinds[kind].hasParent:
		return fmt.Errorf("%w: %s %s does not exist in %s %s of mesh %s.", ErrNotFound, upper(kind), k.Name, kinds[kind].parent, k.Parent, k.Mesh)
	default:
		return fmt.Errorf("%w: %s %s does not exist in mesh %s.", ErrNotFound, upper(kind), k.Name, k.Mesh)
	}
}

func upper(k Kind) string {
	s := k.String()
	return string(s[0]-'a'+'A') + s[1:]
}

// listAll reads every resource of kind whose id starts with prefix, in id
// order, page by page so a large mesh is never one huge query.
func listAll(ctx context.Context, rd store.Reader, kind Kind, prefix string) ([]*Resource, error) {
	var out []*Resource
	after := ""
	for {
		recs, err := rd.List(ctx, kinds[kind].storeKind, store.ListOptions{Prefix: prefix, After: after, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			res, err := decodeResource(r)
			if err != nil {
				return nil, err
			}
			out = append(out, res)
		}
		if len(recs) < 500 {
			return out, nil
		}
		after = recs[len(recs)-1].ID
	}
}

// count returns how many resources of kind live under prefix.
func count(ctx context.Context, rd store.Reader, kind Kind, prefix string) (int, error) {
	n, after := 0, ""
	for {
		recs, err := rd.List(ctx, kinds[kind].storeKind, store.ListOptions{Prefix: prefix, After: after, Limit: 500})
		if err != nil {
			return 0, err
		}
		n += len(recs)
		if len(recs) < 500 {
			return n, nil
		}
		after = recs[len(recs)-1].ID
	}
}
