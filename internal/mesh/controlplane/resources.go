package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/bulwarkd/bulwark/internal/store"
)

// WriteRequest is a Create or Update of one resource.
type WriteRequest struct {
	Kind Kind
	Key  Key
	// Spec is the spec JSON as the client sent it; nil for a mesh means
	// the default spec.
	Spec json.RawMessage
	// Tags apply on Create only (Update leaves tags alone, as App Mesh).
	Tags []Tag
	// ClientToken makes the call idempotent; empty means no token.
	ClientToken string
}

// hash fingerprints what a clientToken replay must repeat exactly.
func (w *WriteRequest) hash(canonical json.RawMessage) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00", w.Kind, canonical)
	tags, _ := json.Marshal(w.Tags)
	h.Write(tags)
	return hex.EncodeToString(h.Sum(nil))
}

// Create makes a resource. A replay of the same request with the same
// clientToken returns the resource made the first time; any other request
// for an existing name is a ConflictException.
func (s *Service) Create(ctx context.Context, w WriteRequest) (*Resource, error) {
	if err := checkKey(w.Kind, w.Key); err != nil {
		return nil, err
	}
	if err := checkTags(w.Tags, "tags"); err != nil {
		return nil, err
	}
	canonical, refs, err := s.checkSpec(w.Kind, w.Key, w.Spec)
	if err != nil {
		return nil, err
	}
	sum := w.hash(canonical)
	now := s.cfg.Clock.Now().UTC()
	res := &Resource{Kind: w.Kind, Key: w.Key, Spec: canonical, Tags: w.Tags, UID: s.uid(), Version: 1, Created: now, Updated: now, CreateToken: w.ClientToken, CreateHash: sum}
	var out *Resource
	err = s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		existing, err := get(ctx, tx, w.Kind, w.Key)
		if err == nil {
			if w.ClientToken != "" && existing.CreateToken == w.ClientToken {
				if existing.CreateHash != sum {
					return fmt.Errorf("%w: The clientToken %s was used for a different request.", ErrConflict, w.ClientToken)
				}
				out = existing
				return nil
			}
			return fmt.Errorf("%w: %s %s already exists.", ErrConflict, upper(w.Kind), displayName(w.Kind, w.Key))
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := s.checkParents(ctx, tx, w.Kind, w.Key); err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, w.Key.Mesh, refs); err != nil {
			return err
		}
		if err := s.checkQuota(ctx, tx, w.Kind, w.Key); err != nil {
			return err
		}
		rec, err := res.record()
		if err != nil {
			return err
		}
		if err := tx.Create(ctx, rec); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("%w: %s %s already exists.", ErrConflict, upper(w.Kind), displayName(w.Kind, w.Key))
			}
			return err
		}
		res.rev = rec.Version
		out = res
		return nil
	})
	if err == nil {
		s.changed(w.Key.Mesh)
	}
	return out, err
}

// Describe returns one resource.
func (s *Service) Describe(ctx context.Context, kind Kind, k Key) (*Resource, error) {
	if err := checkKey(kind, k); err != nil {
		return nil, err
	}
	res, err := get(ctx, s.cfg.Store, kind, k)
	if err != nil {
		if errors.Is(err, ErrNotFound) && kind != KindMesh {
			// Name the missing ancestor, which is what the caller got wrong.
			if perr := s.checkParents(ctx, s.cfg.Store, kind, k); perr != nil {
				return nil, perr
			}
		}
		return nil, err
	}
	return res, nil
}

// Update replaces a resource's spec and adds one to its version. A replay
// with the clientToken of the last update returns the resource unchanged.
func (s *Service) Update(ctx context.Context, w WriteRequest) (*Resource, error) {
	if err := checkKey(w.Kind, w.Key); err != nil {
		return nil, err
	}
	canonical, refs, err := s.checkSpec(w.Kind, w.Key, w.Spec)
	if err != nil {
		return nil, err
	}
	w.Tags = nil
	sum := w.hash(canonical)
	out, err := s.update(ctx, w.Kind, w.Key, func(tx store.Tx, res *Resource) error {
		if w.ClientToken != "" && res.UpdateToken == w.ClientToken {
			if res.UpdateHash != sum {
				return fmt.Errorf("%w: The clientToken %s was used for a different request.", ErrConflict, w.ClientToken)
			}
			return errUnchanged
		}
		if err := checkRefs(ctx, tx, w.Key.Mesh, refs); err != nil {
			return err
		}
		res.Spec = canonical
		res.Version++
		res.Updated = s.cfg.Clock.Now().UTC()
		res.UpdateToken, res.UpdateHash = w.ClientToken, sum
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.changed(w.Key.Mesh)
	return out, nil
}

// errUnchanged ends an update that found nothing to write (a replay).
var errUnchanged = errors.New("appmesh: unchanged")

// update is the read-modify-write of one resource, on store.Update (one
// transaction, retried with jittered backoff when another writer got
// there first): fn changes res, or returns errUnchanged to write nothing.
// A missing resource is NotFoundException naming the first missing
// ancestor; writers that keep colliding past the retries get
// ConflictException.
func (s *Service) update(ctx context.Context, kind Kind, k Key, fn func(tx store.Tx, res *Resource) error) (*Resource, error) {
	var out *Resource
	rec, err := store.Update(ctx, s.cfg.Store, kinds[kind].storeKind, k.id(kind), func(tx store.Tx, r *store.Record) error {
		res, err := decodeResource(r)
		if err != nil {
			return err
		}
		if err := fn(tx, res); err != nil {
			out = res
			return err
		}
		if r.Data, err = json.Marshal(res); err != nil {
			return err
		}
		out = res
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return out, nil
	case errors.Is(err, store.ErrNotFound):
		if perr := s.checkParents(ctx, s.cfg.Store, kind, k); perr != nil {
			return nil, perr
		}
		return nil, notFound(kind, k)
	case errors.Is(err, store.ErrConflict):
		return nil, fmt.Errorf("%w: %s %s was changed concurrently; retry.", ErrConflict, upper(kind), displayName(kind, k))
	case err != nil:
		return nil, err
	}
	out.rev = rec.Version
	return out, nil
}

// Delete removes a resource that nothing depends on and returns it as it
// was. Dependants are refused with ResourceInUseException, as App Mesh.
func (s *Service) Delete(ctx context.Context, kind Kind, k Key) (*Resource, error) {
	if err := checkKey(kind, k); err != nil {
		return nil, err
	}
	var out *Resource
	err := s.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		res, err := get(ctx, tx, kind, k)
		if err != nil {
			if kind != KindMesh {
				if perr := s.checkParents(ctx, tx, kind, k); perr != nil {
					return perr
				}
			}
			return err
		}
		if err := checkUnused(ctx, tx, kind, k); err != nil {
			return err
		}
		if err := tx.Delete(ctx, kinds[kind].storeKind, k.id(kind)); err != nil {
			return err
		}
		out = res
		return nil
	})
	if err == nil {
		s.changed(k.Mesh)
	}
	return out, err
}

// displayName names a resource in messages ("r/route-1" for a route).
func displayName(kind Kind, k Key) string {
	switch {
	case kind == KindMesh:
		return k.Mesh
	case kinds[kind].hasParent:
		return k.Parent + "/" + k.Name
	default:
		return k.Name
	}
}

// checkParents reports the first missing ancestor: the mesh, then the
// router or gateway.
func (s *Service) checkParents(ctx context.Context, rd store.Reader, kind Kind, k Key) error {
	if kind == KindMesh {
		return nil
	}
	if _, err := get(ctx, rd, KindMesh, Key{Mesh: k.Mesh}); err != nil {
		return err
	}
	if info := kinds[kind]; info.hasParent {
		if _, err := get(ctx, rd, info.parent, Key{Mesh: k.Mesh, Name: k.Parent}); err != nil {
			return err
		}
	}
	return nil
}

// ref is a reference from one resource's spec to another resource in the
// same mesh.
type ref struct {
	Kind Kind
	Name string
	// Field is the referring member, for the error message.
	Field string
}

func checkRefs(ctx context.Context, rd store.Reader, mesh string, refs []ref) error {
	for _, r := range refs {
		if _, err := get(ctx, rd, r.Kind, Key{Mesh: mesh, Name: r.Name}); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: %s: %s %s does not exist in mesh %s.", ErrNotFound, r.Field, upper(r.Kind), r.Name, mesh)
			}
			return err
		}
	}
	return nil
}

// referrers lists, for each kind, the kinds whose specs may refer to it.
var referrers = map[Kind][]Kind{
	KindVirtualNode:    {KindVirtualService, KindRoute},
	KindVirtualRouter:  {KindVirtualService},
	KindVirtualService: {KindGatewayRoute},
}

// checkUnused refuses to delete a resource that has children or that
// another resource's spec refers to.
func checkUnused(ctx context.Context, rd store.Reader, kind Kind, k Key) error {
	switch kind {
	case KindMesh:
		for _, child := range []Kind{KindVirtualNode, KindVirtualService, KindVirtualRouter, KindVirtualGateway} {
			n, err := count(ctx, rd, child, k.Mesh+"/")
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: Mesh %s still contains resources (%d %ss); delete them first.", ErrInUse, k.Mesh, n, child)
			}
		}
		return nil
	case KindVirtualRouter, KindVirtualGateway:
		child := KindRoute
		if kind == KindVirtualGateway {
			child = KindGatewayRoute
		}
		n, err := count(ctx, rd, child, k.Mesh+"/"+k.Name+"/")
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s %s still has %d %ss; delete them first.", ErrInUse, upper(kind), k.Name, n, child)
		}
	}
	for _, rk := range referrers[kind] {
		all, err := listAll(ctx, rd, rk, k.Mesh+"/")
		if err != nil {
			return err
		}
		for _, other := range all {
			refs, err := specRefs(other.Kind, other.Spec)
			if err != nil {
				return err
			}
			for _, r := range refs {
				if r.Kind == kind && r.Name == k.Name {
					return fmt.Errorf("%w: %s %s is in use by %s %s (%s).", ErrInUse, upper(kind), k.Name, other.Kind, displayName(other.Kind, other.Key), r.Field)
				}
			}
		}
	}
	return nil
}

// checkQuota enforces Limits on the number of resources of a kind.
func (s *Service) checkQuota(ctx context.Context, rd store.Reader, kind Kind, k Key) error {
	var limit int
	prefix := k.Mesh + "/"
	scope := "mesh " + k.Mesh
	switch kind {
	case KindMesh:
		limit, prefix, scope = s.limits.MeshesPerAccount, "", "the account"
	case KindVirtualNode:
		limit = s.limits.VirtualNodesPerMesh
	case KindVirtualService:
		limit = s.limits.VirtualServicesPerMesh
	case KindVirtualRouter:
		limit = s.limits.VirtualRoutersPerMesh
	case KindVirtualGateway:
		limit = s.limits.VirtualGatewaysPerMesh
	case KindRoute:
		limit, prefix, scope = s.limits.RoutesPerVirtualRouter, k.Mesh+"/"+k.Parent+"/", "virtual router "+k.Parent
	case KindGatewayRoute:
		limit, prefix, scope = s.limits.GatewayRoutesPerGateway, k.Mesh+"/"+k.Parent+"/", "virtual gateway "+k.Parent
	}
	if limit <= 0 {
		return nil
	}
	n, err := count(ctx, rd, kind, prefix)
	if err != nil {
		return err
	}
	if n >= limit {
		return fmt.Errorf("%w: The limit of %d %ss in %s has been reached.", ErrLimitExceeded, limit, kind, scope)
	}
	return nil
}

// uid returns a random UUID-shaped identifier for metadata.uid.
func (s *Service) uid() string {
	var b [16]byte
	s.randMu.Lock()
	_, err := io.ReadFull(s.cfg.Rand, b[:])
	s.randMu.Unlock()
	if err != nil {
		// The uid only needs to be unique, not secret; a failing source
		// must not make resources uncreatable.
		s.log.Warn("appmesh: random source failed; uid from the clock", "err", err)
		t := s.cfg.Clock.Now().UnixNano()
		for i := range 8 {
			b[i] = byte(t >> (8 * i))
		}
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
