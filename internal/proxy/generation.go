package proxy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/proxy/tlsconf"
)

// sourceEntry is one shared certificate source: its Reloader, how many
// generations reference it and how to stop its watch.
type sourceEntry struct {
	name       string
	r          *certsource.Reloader
	refs       int
	cancel     context.CancelFunc // stops the watch; nil until started
	subscribed map[string]bool    // owner|server pairs wired to counters
}

// generation owns what one applied snapshot holds beyond listeners and
// clusters: its listeners' TLS servers (ticket-key goroutines, reloader
// subscriptions) and one reference to every certificate source it uses.
// Apply builds a new generation, swaps it in, then releases the old one,
// so sources no longer referenced stop polling and nothing accumulates
// across updates.
type generation struct {
	sources    map[string]*sourceEntry
	tlsServers []*tlsconf.Server
}

func newGeneration() *generation {
	return &generation{sources: map[string]*sourceEntry{}}
}

// startSource starts an entry's watch under the proxy's run context.
// Callers hold p.mu and p.runCtx is set.
func (p *Proxy) startSource(e *sourceEntry) {
	if e.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(p.runCtx)
	e.cancel = cancel
	e.r.Start(ctx)
}

// commitGeneration takes the references of g, starts what is new and
// releases the previous generation. Callers hold p.mu.
func (p *Proxy) commitGeneration(g *generation) {
	for name, e := range g.sources {
		e.refs++
		if _, ok := p.sources[name]; !ok {
			p.sources[name] = e
		}
		if p.runCtx != nil {
			p.startSource(e)
		}
	}
	if p.runCtx != nil {
		for _, s := range g.tlsServers {
			go s.Run(p.runCtx)
		}
	}
	old := p.gen
	p.gen = g
	if old != nil {
		p.releaseGeneration(old)
	}
}

// releaseGeneration drops g's references: sources nobody uses any more
// stop watching and leave the proxy; g's TLS servers stop. Callers hold
// p.mu.
func (p *Proxy) releaseGeneration(g *generation) {
	for _, s := range g.tlsServers {
		s.Close()
	}
	for name, e := range g.sources {
		e.refs--
		if e.refs > 0 {
			continue
		}
		if e.cancel != nil {
			e.cancel()
		}
		if p.sources[name] == e {
			delete(p.sources, name)
		}
	}
	g.sources, g.tlsServers = nil, nil
}

// discardGeneration undoes a generation that was built but not committed.
func discardGeneration(g *generation) {
	for _, s := range g.tlsServers {
		s.Close()
	}
}

// resolved is the outcome of resolving one certificate reference before
// apply: its source name and, for a source the proxy did not hold yet, a
// loaded Reloader.
type resolved struct {
	name string
	r    *certsource.Reloader
	err  error
}

// refKey identifies a reference by content, so the builder finds what
// resolveSources prepared for it.
func refKey(ref CertRef) string {
	b, _ := json.Marshal(ref)
	return string(b)
}

// snapshotRefs lists every certificate reference the builder may ask for:
// listener certificates and trusts, and client-policy trusts and
// certificates (defaults and per backend).
func snapshotRefs(snap *spec.Snapshot) []CertRef {
	var refs []CertRef
	listeners := func(ls []spec.Listener) {
		for _, l := range ls {
			if t := l.TLS; t != nil && t.Mode != spec.ModeDisabled {
				refs = append(refs, CertRef{Certificate: t.Certificate})
				if t.Validation != nil {
					refs = append(refs, CertRef{Trust: t.Validation.Trust})
				}
			}
		}
	}
	policy := func(cp *spec.ClientPolicy) {
		if cp == nil || !cp.TLS.Enforced() {
			return
		}
		if cp.TLS.Validation != nil {
			refs = append(refs, CertRef{Trust: cp.TLS.Validation.Trust})
		}
		if cp.TLS.Certificate != nil {
			refs = append(refs, CertRef{Certificate: clientCertAsListener(cp.TLS.Certificate)})
		}
	}
	if n := snap.VirtualNode; n != nil {
		listeners(n.Spec.Listeners)
		if n.Spec.BackendDefaults != nil {
			policy(n.Spec.BackendDefaults.ClientPolicy)
		}
		for _, be := range n.Spec.Backends {
			if be.VirtualService != nil {
				policy(be.VirtualService.ClientPolicy)
			}
		}
	}
	if g := snap.VirtualGateway; g != nil {
		listeners(g.Spec.Listeners)
		if g.Spec.BackendDefaults != nil {
			policy(g.Spec.BackendDefaults.ClientPolicy)
		}
	}
	return refs
}

// resolveSources turns every reference of snap into a source name and,
// for sources the proxy does not hold yet, loads a Reloader — all without
// p.mu, under one ResolveTimeout deadline, so a slow ACM or Secrets
// Manager neither blocks the admin endpoints and running requests nor
// hangs an update forever. Errors are kept per reference: a reference the
// builder never reaches (a client policy for ports nothing uses) does not
// refuse the snapshot. Callers hold p.updateMu.
func (p *Proxy) resolveSources(ctx context.Context, snap *spec.Snapshot) map[string]resolved {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ResolveTimeout)
	defer cancel()
	out := map[string]resolved{}
	loaded := map[string]resolved{}
	for _, ref := range snapshotRefs(snap) {
		key := refKey(ref)
		if _, ok := out[key]; ok {
			continue
		}
		name, src, err := p.cfg.Sources(ref)
		if err != nil {
			out[key] = resolved{err: err}
			continue
		}
		p.mu.Lock()
		_, held := p.sources[name]
		p.mu.Unlock()
		if held {
			out[key] = resolved{name: name}
			continue
		}
		if rr, ok := loaded[name]; ok {
			out[key] = rr
			continue
		}
		r := certsource.NewReloader(certsource.ReloaderConfig{
			Name: name, Source: src, Stats: p.stats, Logger: p.log,
			PollInterval: p.cfg.PollInterval, Clock: p.cfg.Clock,
		})
		rr := resolved{name: name, r: r}
		if err := r.Reload(ctx); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (gave up after %s: proxy ResolveTimeout)", err, p.cfg.ResolveTimeout)
			}
			rr = resolved{name: name, err: fmt.Errorf("%s: %w", name, err)}
		}
		loaded[name] = rr
		out[key] = rr
	}
	return out
}
