package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/bulwarkd/bulwark/internal/clock"
)

// buildTimeout bounds one node's snapshot build (store reads and
// certificate loads).
const buildTimeout = 30 * time.Second

// build reads a node's resources, translates them, loads the secrets they
// name and returns the snapshot, the ARNs it depends on and its version.
func (s *Server) build(ref NodeRef) (*cachev3.Snapshot, map[string]bool, string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, buildTimeout)
	defer cancel()
	snap, err := s.cfg.Mesh.ProxySnapshot(ctx, ref.Mesh, ref.Kind, ref.Name)
	if err != nil {
		return nil, nil, "", err
	}
	res, err := Translate(snap)
	if err != nil {
		return nil, nil, "", err
	}
	secrets, deps, err := s.secrets(ctx, res)
	if err != nil {
		return nil, nil, "", err
	}
	items := map[resourcev3.Type][]types.Resource{}
	for _, l := range res.Listeners {
		items[resourcev3.ListenerType] = append(items[resourcev3.ListenerType], l)
	}
	for _, c := range res.Clusters {
		items[resourcev3.ClusterType] = append(items[resourcev3.ClusterType], c)
	}
	for _, r := range res.Routes {
		items[resourcev3.RouteType] = append(items[resourcev3.RouteType], r)
	}
	for _, sec := range secrets {
		items[resourcev3.SecretType] = append(items[resourcev3.SecretType], sec)
	}
	version, err := contentVersion(items)
	if err != nil {
		return nil, nil, "", err
	}
	cs, err := cachev3.NewSnapshot(version, items)
	if err != nil {
		return nil, nil, "", err
	}
	if err := cs.Consistent(); err != nil {
		return nil, nil, "", fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return cs, deps, version, nil
}

// contentVersion names a snapshot by its content, so a rebuild that
// changes nothing sends nothing and every replica names the same
// configuration alike.
func contentVersion(items map[resourcev3.Type][]types.Resource) (string, error) {
	h := sha256.New()
	typesSorted := make([]string, 0, len(items))
	for t := range items {
		typesSorted = append(typesSorted, t)
	}
	sort.Strings(typesSorted)
	opts := proto.MarshalOptions{Deterministic: true}
	for _, t := range typesSorted {
		h.Write([]byte(t))
		for _, r := range items[t] {
			b, err := opts.Marshal(r)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// secrets loads the SDS secrets a translation names.
func (s *Server) secrets(ctx context.Context, res *Resources) ([]*tlsv3.Secret, map[string]bool, error) {
	deps := map[string]bool{}
	var out []*tlsv3.Secret
	if len(res.CertificateARNs) > 0 || len(res.TrustBundles) > 0 {
		if s.cfg.Certificates == nil {
			return nil, nil, fmt.Errorf("the configuration names ACM certificates or private CAs, but this server has no certificate source")
		}
	}
	for _, arn := range res.CertificateARNs {
		deps[arn] = true
		chain, key, err := s.cfg.Certificates.KeyPair(ctx, arn)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate %s: %w", arn, err)
		}
		out = append(out, &tlsv3.Secret{Name: certSecretName(arn), Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: chain}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: key}},
		}}})
	}
	names := make([]string, 0, len(res.TrustBundles))
	for n := range res.TrustBundles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var bundle []byte
		for _, arn := range res.TrustBundles[name] {
			deps[arn] = true
			pem, err := s.cfg.Certificates.CACertificate(ctx, arn)
			if err != nil {
				return nil, nil, fmt.Errorf("certificate authority %s: %w", arn, err)
			}
			bundle = append(bundle, pem...)
			if len(bundle) > 0 && bundle[len(bundle)-1] != '\n' {
				bundle = append(bundle, '\n')
			}
		}
		out = append(out, &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: bundle}},
		}}})
	}
	for _, sec := range out {
		if err := sec.ValidateAll(); err != nil {
			// The message never includes key bytes: validators report
			// field paths and rules, and a secret's failing rule is its
			// name or an empty source.
			return nil, nil, fmt.Errorf("secret %s: invalid", sec.Name)
		}
	}
	return out, deps, nil
}

// meshChanged marks every node of the mesh for a rebuild.
func (s *Server) meshChanged(mesh string) {
	s.mu.Lock()
	for id, n := range s.nodes {
		if n.ref.Mesh == mesh {
			s.dirty[id] = true
		}
	}
	s.mu.Unlock()
	s.wake()
}

// certChanged marks every node whose secrets come from arn.
func (s *Server) certChanged(arn string) {
	s.mu.Lock()
	for id, n := range s.nodes {
		if n.deps[arn] {
			s.dirty[id] = true
		}
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// rebuildLoop rebuilds dirty nodes, coalescing bursts of changes: a
// change arriving during a rebuild marks the node again and wakes the
// loop once more.
func (s *Server) rebuildLoop() {
	defer s.wg.Done()
	var resync <-chan time.Time
	if s.cfg.ResyncInterval > 0 {
		// A ticker in this select rather than clock.Every: a kick and a
		// resync share one rebuild loop but mark different nodes dirty.
		t := clock.OrReal(s.cfg.Clock).NewTicker(s.cfg.ResyncInterval)
		defer t.Stop()
		resync = t.C()
	}
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		case <-resync:
			s.mu.Lock()
			for id := range s.nodes {
				s.dirty[id] = true
			}
			s.mu.Unlock()
		}
		s.rebuildDirty()
	}
}

func (s *Server) rebuildDirty() {
	s.mu.Lock()
	work := make(map[string]NodeRef, len(s.dirty))
	for id := range s.dirty {
		if n := s.nodes[id]; n != nil {
			work[id] = n.ref
		}
	}
	clear(s.dirty)
	s.mu.Unlock()
	// Nodes of the same resource share a build.
	type built struct {
		snap    *cachev3.Snapshot
		deps    map[string]bool
		version string
		err     error
	}
	byARN := map[string]*built{}
	for id, ref := range work {
		b := byARN[ref.ARN]
		if b == nil {
			b = &built{}
			b.snap, b.deps, b.version, b.err = s.build(ref)
			byARN[ref.ARN] = b
		}
		if b.err != nil {
			// The data plane keeps what it has; the last good snapshot
			// stays in the cache.
			s.metrics.buildFailures.Inc()
			s.log.Error("xds: rebuilding a node's configuration failed; it keeps the last one", "node", id, "err", b.err)
			continue
		}
		s.mu.Lock()
		n := s.nodes[id]
		if n == nil {
			s.mu.Unlock()
			continue
		}
		n.deps = b.deps
		changed := n.version != b.version
		n.version = b.version
		if changed {
			if err := s.cache.SetSnapshot(s.ctx, id, b.snap); err != nil {
				s.log.Error("xds: set snapshot", "node", id, "err", err)
			}
		}
		s.mu.Unlock()
	}
}
