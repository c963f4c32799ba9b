package xdsclient

import (
	"context"
	"fmt"
	"strings"
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
	fallback proxy.SourceFactory
	mu       sync.RWMutex
	m        map[string]*certsource.Material
}

// NewSecrets returns an empty store. References that are not the
// stream's secrets (files, and App Mesh "sds" sources, which bulwark
// proxy reads from Secrets Manager) go to fallback; nil means
// proxy.FileSources.
func NewSecrets(fallback proxy.SourceFactory) *Secrets {
	if fallback == nil {
		fallback = proxy.FileSources
	}
	return &Secrets{fallback: fallback, m: map[string]*certsource.Material{}}
}

// swap installs m and returns the previous contents.
func (s *Secrets) swap(m map[string]*certsource.Material) map[string]*certsource.Material {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m
	s.m = m
	return old
}

// Swap installs the secrets of a version about to be applied and returns
// the previous ones (to put back if the proxy refuses it).
func (s *Secrets) Swap(m map[string]*certsource.Material) map[string]*certsource.Material {
	return s.swap(m)
}

func (s *Secrets) get(name string) *certsource.Material {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[name]
}

// Sources is the proxy's SourceFactory in xDS mode: an sds reference named
// SourcePrefix+NAME is the stream's secret NAME; everything else goes to
// the fallback factory.
func (s *Secrets) Sources(ref proxy.CertRef) (string, certsource.Source, error) {
	switch {
	case ref.Certificate != nil && ref.Certificate.SDS != nil && strings.HasPrefix(ref.Certificate.SDS.SecretName, SourcePrefix):
		n := ref.Certificate.SDS.SecretName
		return n, secretSource{s: s, name: strings.TrimPrefix(n, SourcePrefix), cert: true}, nil
	case ref.Trust != nil && ref.Trust.SDS != nil && strings.HasPrefix(ref.Trust.SDS.SecretName, SourcePrefix):
		n := ref.Trust.SDS.SecretName
		return n, secretSource{s: s, name: strings.TrimPrefix(n, SourcePrefix)}, nil
	}
	return s.fallback(ref)
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
