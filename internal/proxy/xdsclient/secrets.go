package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// SourcePrefix starts the name of every certificate source fed by the
// stream (in /certs and sds.<name>.* stats): "xds:" + the secret name,
// e.g. xds:arn:aws:acm:… for an ACM certificate.
const SourcePrefix = "xds:"

// Secrets holds the secrets of the applied configuration. The proxy's
// certificate sources read them; a renewal swaps the material and the
// sources' reloaders pick it up (validated, without dropping
// connections), as for any other source.
type Secrets struct {
	mu sync.RWMutex
	m  map[string]*certsource.Material
}

// NewSecrets returns an empty store.
func NewSecrets() *Secrets { return &Secrets{m: map[string]*certsource.Material{}} }

// swap installs m and returns the previous contents.
func (s *Secrets) swap(m map[string]*certsource.Material) map[string]*certsource.Material {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m
	s.m = m
	return old
}

func (s *Secrets) get(name string) *certsource.Material {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[name]
}

// Sources is the proxy's SourceFactory in xDS mode: sds references are
// the stream's secrets (never Secrets Manager), file references are
// files, and anything else is refused.
func (s *Secrets) Sources(ref proxy.CertRef) (string, certsource.Source, error) {
	switch {
	case ref.Certificate != nil && ref.Certificate.SDS != nil:
		n := ref.Certificate.SDS.SecretName
		return SourcePrefix + n, secretSource{s: s, name: n, cert: true}, nil
	case ref.Trust != nil && ref.Trust.SDS != nil:
		n := ref.Trust.SDS.SecretName
		return SourcePrefix + n, secretSource{s: s, name: n}, nil
	case ref.Certificate != nil && ref.Certificate.File != nil, ref.Trust != nil && ref.Trust.File != nil:
		return proxy.FileSources(ref)
	}
	return "", nil, errors.New("xdsclient: certificates come from the xDS stream or files only")
}

// secretSource is one secret of the store as a certificate source.
type secretSource struct {
	s    *Secrets
	name string
	cert bool
}

func (x secretSource) material() (*certsource.Material, error) {
	m := x.s.get(x.name)
	switch {
	case m == nil:
		return nil, fmt.Errorf("secret %q is not in the applied xDS configuration", x.name)
	case x.cert && m.Certificate == nil:
		return nil, fmt.Errorf("secret %q is not a certificate", x.name)
	case !x.cert && m.Pool == nil:
		return nil, fmt.Errorf("secret %q is not a trust bundle", x.name)
	}
	return m, nil
}

// Load returns the secret's current material.
func (x secretSource) Load(context.Context) (*certsource.Material, error) { return x.material() }

// Version returns the material's content hash, so a reloader reloads only
// when the server sent something new.
func (x secretSource) Version(context.Context) (string, error) {
	m, err := x.material()
	if err != nil {
		return "", err
	}
	return m.Version, nil
}
