package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
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

// translation is one App Mesh resource's configuration before the
// per-principal certificate decisions: every node entry of the resource
// shares it within one rebuild.
type translation struct {
	res *Resources
	// trust are the validation-context secrets (CA certificates, public).
	trust []*tlsv3.Secret
	// deps are the certificate and CA ARNs the configuration names.
	deps map[string]bool

	mu sync.Mutex
	// keys caches each ACM certificate's secret (or why it cannot be
	// delivered), loaded on the first entry allowed to have it.
	keys map[string]keyResult
}

type keyResult struct {
	secret *tlsv3.Secret
	err    error
}

// Outcomes of one ACM certificate for one node entry.
const (
	certSent        = "sent"
	certDenied      = "denied"
	certUnavailable = "unavailable"
)

// translate reads a resource's App Mesh snapshot, translates it and loads
// its trust bundles.
func (s *Server) translate(ref NodeRef, flavour string) (*translation, error) {
	ctx, cancel := context.WithTimeout(s.ctx, buildTimeout)
	defer cancel()
	snap, err := s.cfg.Mesh.ProxySnapshot(ctx, ref.Mesh, ref.Kind, ref.Name)
	if err != nil {
		return nil, err
	}
	translate := Translate
	if flavour == FlavourGRPC {
		translate = TranslateGRPC
	}
	res, err := translate(snap)
	if err != nil {
		return nil, err
	}
	if len(res.CertificateARNs) > 0 || len(res.TrustBundles) > 0 {
		if s.cfg.Certificates == nil {
			return nil, fmt.Errorf("the configuration names ACM certificates or private CAs, but this server has no certificate source")
		}
	}
	trust, deps, err := s.trustSecrets(ctx, res)
	if err != nil {
		return nil, err
	}
	for _, arn := range res.CertificateARNs {
		deps[arn] = true
	}
	return &translation{res: res, trust: trust, deps: deps, keys: map[string]keyResult{}}, nil
}

// keyPair returns an ACM certificate's SDS secret, loading it once per
// translation.
func (s *Server) keyPair(ctx context.Context, tr *translation, arn string) (*tlsv3.Secret, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if k, ok := tr.keys[arn]; ok {
		return k.secret, k.err
	}
	var k keyResult
	chain, key, err := s.cfg.Certificates.KeyPair(ctx, arn)
	if err != nil {
		k.err = fmt.Errorf("certificate %s: %w", arn, err)
	} else {
		k.secret = &tlsv3.Secret{Name: certSecretName(arn), Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: chain}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: key}},
		}}}
		if verr := k.secret.ValidateAll(); verr != nil {
			// The message never includes key bytes.
			k.secret, k.err = nil, fmt.Errorf("secret %s: invalid", arn)
		}
	}
	tr.keys[arn] = k
	return k.secret, k.err
}

// assemble builds one node entry's snapshot from a translation. Each ACM
// certificate is included only if the entry's principal may export it
// and it can still be delivered; a listener or cluster that uses a
// withheld certificate is left out with it (and routes only it used), so
// the data plane drops the listener, the secret with it, and no stale key
// stays in its configuration. prev is the entry's last outcome per
// certificate: a new or changed one is audited (through the principal),
// logged and counted. It returns the snapshot, its version and the
// outcomes.
func (s *Server) assemble(tr *translation, n *node, prev map[string]string, revoked error) (*cachev3.Snapshot, string, map[string]string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, buildTimeout)
	defer cancel()
	outcomes := make(map[string]string, len(tr.res.CertificateARNs))
	withheld := map[string]bool{}
	var secrets []*tlsv3.Secret
	for _, arn := range tr.res.CertificateARNs {
		err := s.authorizeCertificate(ctx, n, arn, prev[arn])
		if revoked != nil {
			// The principal may not stream the node any more: it gets no
			// certificate, whatever its export rights.
			err = fmt.Errorf("%w: %w", ErrCertificateDenied, revoked)
		}
		if err != nil && !errors.Is(err, ErrCertificateDenied) {
			return nil, "", nil, fmt.Errorf("deciding certificate %s: %w", arn, err)
		}
		if err != nil {
			outcomes[arn] = certDenied
			withheld[certSecretName(arn)] = true
			if prev[arn] != certDenied {
				s.metrics.withheld.WithLabelValues(certDenied).Inc()
				s.log.Warn("xds: certificate withheld: the stream's principal may not export it (acm:ExportCertificate); listeners and clusters using it are not sent",
					"node", n.id, "certificate", arn, "err", err)
			}
			continue
		}
		sec, err := s.keyPair(ctx, tr, arn)
		if err != nil {
			if !errors.Is(err, ErrCertificateUnavailable) {
				return nil, "", nil, err
			}
			outcomes[arn] = certUnavailable
			withheld[certSecretName(arn)] = true
			if prev[arn] != certUnavailable {
				s.metrics.withheld.WithLabelValues(certUnavailable).Inc()
				s.log.Warn("xds: certificate withdrawn: it can no longer be delivered (deleted, revoked or not issued); listeners and clusters using it are not sent",
					"node", n.id, "certificate", arn, "err", err)
			}
			continue
		}
		outcomes[arn] = certSent
		secrets = append(secrets, sec)
	}
	secrets = append(secrets, tr.trust...)
	res := tr.res
	if len(withheld) > 0 {
		var err error
		if res, err = withoutSecrets(res, withheld); err != nil {
			return nil, "", nil, err
		}
	}
	// Every type is present, empty or not: a type missing from a snapshot
	// has no version, and a watch for it would never be answered (a node
	// whose only listener is withheld must still hear "no listeners").
	items := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: {}, resourcev3.ClusterType: {}, resourcev3.RouteType: {}, resourcev3.SecretType: {},
	}
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
	if n.flavour == FlavourGRPC {
		// gRPC's clusters are EDS: their assignments are a fifth type.
		items[resourcev3.EndpointType] = []types.Resource{}
		for _, e := range res.Endpoints {
			items[resourcev3.EndpointType] = append(items[resourcev3.EndpointType], e)
		}
	}
	version, err := contentVersion(items)
	if err != nil {
		return nil, "", nil, err
	}
	cs, err := cachev3.NewSnapshot(version, items)
	if err != nil {
		return nil, "", nil, err
	}
	if n.flavour == FlavourGRPC {
		// go-control-plane's consistency check does not follow an API
		// listener's RDS name; TranslateGRPC names only routes it made.
	} else if err := cs.Consistent(); err != nil {
		return nil, "", nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return cs, version, outcomes, nil
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

// authorizeCertificate decides whether n's principal may have arn. The
// decision is recorded (audited) only when it differs from the entry's
// last one (before: its outcome, "" for none): the policy is evaluated
// quietly first and once more, recording, when the answer is new; the
// recording answer is the one used, so a decision that cannot be audited
// is a refusal.
func (s *Server) authorizeCertificate(ctx context.Context, n *node, arn, before string) error {
	if n.principal == nil {
		return fmt.Errorf("%w: the stream has no principal that could be allowed acm:ExportCertificate", ErrCertificateDenied)
	}
	err := n.principal.AuthorizeCertificate(ctx, n.ref, arn, false)
	allowedBefore := before == certSent || before == certUnavailable
	if (err == nil) != allowedBefore || before == "" {
		err = n.principal.AuthorizeCertificate(ctx, n.ref, arn, true)
	}
	return err
}

// trustSecrets loads the validation-context secrets a translation names
// (CA certificates: public, delivered to every entry of the node).
func (s *Server) trustSecrets(ctx context.Context, res *Resources) ([]*tlsv3.Secret, map[string]bool, error) {
	deps := map[string]bool{}
	var out []*tlsv3.Secret
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
		sec := &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: bundle}},
		}}}
		if err := sec.ValidateAll(); err != nil {
			return nil, nil, fmt.Errorf("secret %s: invalid", sec.Name)
		}
		out = append(out, sec)
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
	s.counters.mu.Lock()
	s.counters.policyGen++
	s.counters.recheck = len(s.counters.streams) > 0
	s.counters.mu.Unlock()
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
	s.counters.mu.Lock()
	s.counters.policyGen++
	s.counters.recheck = len(s.counters.streams) > 0
	s.counters.mu.Unlock()
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
		s.recheckMetricStreams()
	}
}

func (s *Server) rebuildDirty() {
	type job struct {
		n    *node
		prev map[string]string
	}
	s.mu.Lock()
	work := make(map[string]job, len(s.dirty))
	for key := range s.dirty {
		if n := s.nodes[key]; n != nil {
			work[key] = job{n: n, prev: maps.Clone(n.certs)}
		}
	}
	clear(s.dirty)
	s.mu.Unlock()
	// Entries of the same resource share a translation (and its loaded
	// keys); each entry's certificates are decided for its principal.
	type built struct {
		tr  *translation
		err error
	}
	byARN := map[string]*built{}
	for key, j := range work {
		ref := j.n.ref
		tk := ref.ARN + "\x00" + j.n.flavour
		b := byARN[tk]
		if b == nil {
			b = &built{}
			b.tr, b.err = s.translate(ref, j.n.flavour)
			byARN[tk] = b
		}
		err := b.err
		var (
			snap     *cachev3.Snapshot
			version  string
			outcomes map[string]string
			revoked  error
		)
		if err == nil {
			revoked, err = s.reauthorize(j.n)
		}
		if err == nil {
			snap, version, outcomes, err = s.assemble(b.tr, j.n, j.prev, revoked)
		}
		if err != nil {
			// The data plane keeps what it has; the last good snapshot
			// stays in the cache.
			s.metrics.buildFailures.Inc()
			s.log.Error("xds: rebuilding a node's configuration failed; it keeps the last one", "node", j.n.id, "err", err)
			continue
		}
		s.mu.Lock()
		n := s.nodes[key]
		if n != j.n {
			// The entry closed (and maybe reopened) meanwhile.
			s.mu.Unlock()
			continue
		}
		n.deps, n.certs = b.tr.deps, outcomes
		changed := n.version != version
		n.version = version
		if changed {
			if err := s.cache.SetSnapshot(s.ctx, key, snap); err != nil {
				s.log.Error("xds: set snapshot", "node", n.id, "err", err)
			}
		}
		if revoked != nil && n.revoked == nil {
			n.revoked = revoked
			s.metrics.refused.WithLabelValues("revoked").Inc()
			s.log.Warn("xds: the stream's principal may no longer stream this resource; its certificates are withdrawn and its streams end", "node", n.id, "err", revoked)
			if !changed {
				// Nothing to push first: end the streams now.
				s.endStreamsLocked(key, revoked)
			} else {
				// A data plane that never acknowledges the withdrawal
				// still loses its streams, AuthTimeout later.
				after := s.cfg.afterFunc
				if after == nil {
					after = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
				}
				after(s.authTimeout, func() {
					s.mu.Lock()
					defer s.mu.Unlock()
					if s.nodes[key] == n {
						s.endStreamsLocked(key, revoked)
					}
				})
			}
		}
		s.mu.Unlock()
	}
}

// reauthorize asks a node's principal whether it may still stream the
// node. It returns the revocation (wrapping ErrStreamRevoked), or an
// error when that cannot be decided now.
func (s *Server) reauthorize(n *node) (revoked error, err error) {
	ra, ok := n.principal.(StreamReauthorizer)
	if !ok {
		return nil, nil
	}
	s.mu.Lock()
	already := n.revoked
	s.mu.Unlock()
	if already != nil {
		return already, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, buildTimeout)
	defer cancel()
	if err := ra.Reauthorize(ctx, n.ref); err != nil {
		if errors.Is(err, ErrStreamRevoked) {
			return err, nil
		}
		return nil, fmt.Errorf("re-authorizing the stream: %w", err)
	}
	return nil, nil
}

// PoliciesChanged rebuilds every node whose streams act as a principal
// that can be re-authorized (IAM): a policy, access key or user change
// takes effect at once on open streams — certificates the principal may
// no longer export are withdrawn, and streams it may no longer hold end.
// fn-style: it does not block.
func (s *Server) PoliciesChanged() {
	s.mu.Lock()
	for id, n := range s.nodes {
		if _, ok := n.principal.(StreamReauthorizer); ok {
			s.dirty[id] = true
		}
	}
	s.mu.Unlock()
	s.counters.mu.Lock()
	s.counters.policyGen++
	s.counters.recheck = len(s.counters.streams) > 0
	s.counters.mu.Unlock()
	s.wake()
}

// endStreamsLocked ends every open stream of a node entry with err (s.mu
// held).
func (s *Server) endStreamsLocked(key string, err error) {
	for _, st := range s.streams {
		if st.key == key && st.guard != nil {
			st.guard.cancel(err)
		}
	}
}

// revokedFor returns the node's revocation once stream st has
// acknowledged every type it was sent at the node's current version (the
// configuration without certificates), nil before. s.mu is held.
func (n *node) revokedFor(st *stream) error {
	if n.revoked == nil {
		return nil
	}
	for t := range st.sent {
		if n.acked[t] != n.version {
			return nil
		}
	}
	return n.revoked
}

// withoutSecrets returns res without the listeners and clusters whose TLS
// contexts name one of the withheld secrets, and without the routes only
// those listeners used. res itself is shared and left as it is.
func withoutSecrets(res *Resources, withheld map[string]bool) (*Resources, error) {
	out := &Resources{CertificateARNs: res.CertificateARNs, TrustBundles: res.TrustBundles, Endpoints: res.Endpoints}
	for _, l := range res.Listeners {
		uses, err := listenerUsesSecret(l, withheld)
		if err != nil {
			return nil, err
		}
		if !uses {
			out.Listeners = append(out.Listeners, l)
		}
	}
	for _, c := range res.Clusters {
		uses, err := clusterUsesSecret(c, withheld)
		if err != nil {
			return nil, err
		}
		if !uses {
			out.Clusters = append(out.Clusters, c)
		}
	}
	kept := map[string]types.ResourceWithTTL{}
	for _, l := range out.Listeners {
		kept[l.GetName()] = types.ResourceWithTTL{Resource: l}
	}
	routes := cachev3.GetResourceReferences(kept)[resourcev3.RouteType]
	for _, r := range res.Routes {
		if routes[r.GetName()] {
			out.Routes = append(out.Routes, r)
		}
	}
	return out, nil
}

func listenerUsesSecret(l *listenerv3.Listener, names map[string]bool) (bool, error) {
	chains := l.GetFilterChains()
	if d := l.GetDefaultFilterChain(); d != nil {
		chains = append(append([]*listenerv3.FilterChain(nil), chains...), d)
	}
	for _, fc := range chains {
		uses, err := socketUsesSecret(fc.GetTransportSocket(), names)
		if err != nil || uses {
			return uses, err
		}
	}
	return false, nil
}

func clusterUsesSecret(c *clusterv3.Cluster, names map[string]bool) (bool, error) {
	uses, err := socketUsesSecret(c.GetTransportSocket(), names)
	if err != nil || uses {
		return uses, err
	}
	for _, m := range c.GetTransportSocketMatches() {
		if uses, err := socketUsesSecret(m.GetTransportSocket(), names); err != nil || uses {
			return uses, err
		}
	}
	return false, nil
}

// socketUsesSecret reports whether a TLS transport socket names one of
// the secrets as its certificate. A socket it cannot read counts as using
// one: leaving a listener out is the safe mistake.
func socketUsesSecret(ts *corev3.TransportSocket, names map[string]bool) (bool, error) {
	tc := ts.GetTypedConfig()
	if tc == nil {
		return false, nil
	}
	m, err := tc.UnmarshalNew()
	if err != nil {
		return true, nil
	}
	var common *tlsv3.CommonTlsContext
	switch t := m.(type) {
	case *tlsv3.DownstreamTlsContext:
		common = t.GetCommonTlsContext()
	case *tlsv3.UpstreamTlsContext:
		common = t.GetCommonTlsContext()
	default:
		return false, nil
	}
	for _, sc := range common.GetTlsCertificateSdsSecretConfigs() {
		if names[sc.GetName()] {
			return true, nil
		}
	}
	return false, nil
}
