package proxy

import (
	"crypto/x509"
	"sort"
	"strconv"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/admin"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// State reports the proxy's lifecycle state for /ready.
func (p *Proxy) State() string { return p.state.Load().(string) }

// Certs describes the certificates in use (only what is in use: the
// reloaders referenced by the current snapshot).
func (p *Proxy) Certs() admin.Certs {
	p.mu.Lock()
	names := make([]string, 0, len(p.sources))
	rs := map[string]*certsource.Reloader{}
	for n, e := range p.sources {
		names = append(names, n)
		rs[n] = e.r
	}
	p.mu.Unlock()
	sort.Strings(names)
	now := p.now()
	out := admin.Certs{Certificates: []admin.CertContext{}}
	for _, n := range names {
		st := rs[n].State()
		cc := admin.CertContext{Name: n, CACert: []admin.CertInfo{}, CertChain: []admin.CertInfo{}, Source: &admin.SourceState{
			Status: st.Status, LastError: st.LastError, ConsecutiveFailures: st.ConsecutiveFailures,
			LastAttempt: rfc3339(st.LastAttempt), LastSuccess: rfc3339(st.LastSuccess),
		}}
		m := rs[n].Current()
		if m == nil {
			out.Certificates = append(out.Certificates, cc)
			continue
		}
		for _, c := range m.Roots {
			cc.CACert = append(cc.CACert, certInfo(n, c, now))
		}
		if m.Certificate != nil {
			for _, der := range m.Certificate.Certificate {
				if c, err := x509.ParseCertificate(der); err == nil {
					cc.CertChain = append(cc.CertChain, certInfo(n, c, now))
				}
			}
		}
		out.Certificates = append(out.Certificates, cc)
	}
	return out
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func certInfo(path string, c *x509.Certificate, now time.Time) admin.CertInfo {
	sans := certsource.SANs(c)
	if sans == nil {
		sans = []string{}
	}
	return admin.CertInfo{
		Path: path, SerialNumber: c.SerialNumber.Text(16), SubjectAltNames: sans,
		DaysUntilExpiration: int64(c.NotAfter.Sub(now) / (24 * time.Hour)),
		ValidFrom:           c.NotBefore.UTC().Format(time.RFC3339),
		ExpirationTime:      c.NotAfter.UTC().Format(time.RFC3339),
	}
}

// ConfigDump returns the snapshot and settings in use. It holds paths and
// secret names only; admin.Redact still scrubs anything key-shaped.
func (p *Proxy) ConfigDump() any {
	p.mu.Lock()
	defer p.mu.Unlock()
	clusters := map[string]string{}
	for n, c := range p.clusters {
		clusters[n] = c.addr
	}
	return map[string]any{"snapshot": p.snap, "settings": p.cfg.Settings, "clusters": clusters}
}

// ServerInfo returns /server_info's document.
func (p *Proxy) ServerInfo() admin.ServerInfo {
	p.mu.Lock()
	snap := p.snap
	p.mu.Unlock()
	node := ""
	if snap.VirtualNode != nil {
		node = "mesh/" + snap.MeshName + "/virtualNode/" + snap.VirtualNode.Name
	} else if snap.VirtualGateway != nil {
		node = "mesh/" + snap.MeshName + "/virtualGateway/" + snap.VirtualGateway.Name
	}
	return admin.ServerInfo{
		Version: p.cfg.Version, State: p.State(), Node: node, Mesh: snap.MeshName,
		UptimeCurrentEpoch: strconv.FormatInt(int64(p.now().Sub(p.start)/time.Second), 10) + "s",
	}
}
