package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
)

// changes is what one apply changed, for the log.
type changes struct {
	listenersAdded, listenersReplaced, listenersRemoved []string
	clustersAdded, clustersChanged, clustersRemoved     []string
	sourcesAdded, sourcesRemoved                        []string
}

func (c changes) empty() bool {
	return len(c.listenersAdded)+len(c.listenersReplaced)+len(c.listenersRemoved)+
		len(c.clustersAdded)+len(c.clustersChanged)+len(c.clustersRemoved)+
		len(c.sourcesAdded)+len(c.sourcesRemoved) == 0
}

// configVersion is a short content hash of a snapshot: the same
// configuration always logs the same version, so operators can tell
// whether two proxies (or two log lines) run the same thing.
func configVersion(s *spec.Snapshot) string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

func sourceNames(m map[string]*sourceEntry) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// diffNames returns what after has that before lacks, and the reverse.
func diffNames(before, after []string) (added, removed []string) {
	in := func(xs []string, x string) bool {
		i := sort.SearchStrings(xs, x)
		return i < len(xs) && xs[i] == x
	}
	for _, a := range after {
		if !in(before, a) {
			added = append(added, a)
		}
	}
	for _, b := range before {
		if !in(after, b) {
			removed = append(removed, b)
		}
	}
	return added, removed
}

// logStart reports what the proxy serves. Callers hold p.mu.
func (p *Proxy) logStart() {
	ls := make([]string, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l.protocol+"://"+l.ln.Addr().String())
	}
	sort.Strings(ls)
	srcs := make([]any, 0, len(p.sources))
	for _, n := range sourceNames(p.sources) {
		srcs = append(srcs, n+"="+p.sources[n].r.State().Status)
	}
	p.log.Info("proxy started", "mesh", p.snap.MeshName, "resource", resourceName(p.snap),
		"config_version", configVersion(p.snap), "listeners", ls, "admin", p.adminLn.Addr().String(),
		"certificate_sources", srcs, "clusters", len(p.clusters))
}

// logChanges reports what an applied update changed.
func (p *Proxy) logChanges(c changes) {
	p.mu.Lock()
	ver := configVersion(p.snap)
	p.mu.Unlock()
	if c.empty() {
		p.log.Info("configuration applied; routes and settings updated, nothing added or removed", "config_version", ver)
		return
	}
	attrs := []any{"config_version", ver}
	add := func(k string, v []string) {
		if len(v) > 0 {
			sort.Strings(v)
			attrs = append(attrs, k, v)
		}
	}
	add("listeners_added", c.listenersAdded)
	add("listeners_replaced", c.listenersReplaced)
	add("listeners_removed", c.listenersRemoved)
	add("clusters_added", c.clustersAdded)
	add("clusters_changed", c.clustersChanged)
	add("clusters_removed", c.clustersRemoved)
	add("certificate_sources_added", c.sourcesAdded)
	add("certificate_sources_removed", c.sourcesRemoved)
	p.log.Info("configuration applied", attrs...)
}

func resourceName(s *spec.Snapshot) string {
	switch {
	case s.VirtualNode != nil:
		return "virtualNode/" + s.VirtualNode.Name
	case s.VirtualGateway != nil:
		return "virtualGateway/" + s.VirtualGateway.Name
	}
	return ""
}
