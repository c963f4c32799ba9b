package server

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/bulwarkd/bulwark/internal/acm"
	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/auditapi"
	"github.com/bulwarkd/bulwark/internal/console"
	"github.com/bulwarkd/bulwark/internal/events"
	"github.com/bulwarkd/bulwark/internal/kms"
	"github.com/bulwarkd/bulwark/internal/mesh/controlplane"
	"github.com/bulwarkd/bulwark/internal/mesh/proxystatus"
	"github.com/bulwarkd/bulwark/internal/pca"
	"github.com/bulwarkd/bulwark/internal/secrets"
)

// buildServices makes every hosted service and wires the few that depend
// on each other through the small interfaces they declare (Secrets Manager
// uses KMS, ACM uses the CA and the event bus).
func (s *Server) buildServices() {
	c := s.cfg
	s.kms = kms.New(kms.Config{Store: s.store, AccountID: c.AccountID, Region: c.Region, Clock: c.Clock, Rand: c.Rand, Logger: c.Logger})
	s.events = events.New(events.Config{Store: s.store, AccountID: c.AccountID, Region: c.Region, Clock: c.Clock, Rand: c.Rand, Logger: c.Logger})
	s.pca = pca.New(pca.Config{Store: s.store, AccountID: c.AccountID, Region: c.Region, CRLBaseURL: c.PublicURL + "/crl", Clock: c.Clock, Rand: c.Rand, Logger: c.Logger})
	s.acm = acm.New(acm.Config{Store: s.store, CA: s.pca, Events: s.events, AccountID: c.AccountID, Region: c.Region, Clock: c.Clock, Rand: c.Rand, Logger: c.Logger})
	s.secrets = secrets.New(secrets.Config{Store: s.store, Keys: s.kms, AccountID: c.AccountID, Region: c.Region, Clock: c.Clock, Rand: c.Rand, Logger: c.Logger})
	s.appmesh = controlplane.New(controlplane.Config{Store: s.store, AccountID: c.AccountID, Region: c.Region, Clock: c.Clock, Rand: c.Rand, Logger: c.Logger})
	s.buildXDS()
	s.console = console.New(console.Config{Region: c.Region, AccountID: c.AccountID})
	s.Register(s.iam.API(), s.iam.STSAPI(), s.kms.API(), s.events.API(), s.pca.API(), s.acm.API(), s.secrets.API(), s.appmesh.API(), s.events.DeliveriesAPI())
	s.Register(auditapi.New(auditapi.Config{Path: s.audit.Path(), Keys: s.auditKeys, AccountID: c.AccountID, Region: c.Region}).API())
	s.Register(proxystatus.New(proxystatus.Config{Source: s.xds, AccountID: c.AccountID, Region: c.Region}).API())
	s.Register(c.ExtraServices...)
}

// startBackground runs every service's background loop until Close.
func (s *Server) startBackground(services []*api.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, svc := range services {
		if svc.Run == nil {
			continue
		}
		wg.Add(1)
		go func(run func(context.Context)) {
			defer wg.Done()
			run(ctx)
		}(svc.Run)
	}
	s.closeFns = append(s.closeFns, func() error {
		cancel()
		wg.Wait()
		return nil
	})
}

// routeFor finds an unauthenticated service route (CRLs, OCSP) for path,
// longest prefix first.
func (s *Server) routeFor(path string) http.Handler {
	for _, p := range s.routePrefixes {
		if strings.HasPrefix(path, p) {
			return s.routes[p]
		}
	}
	return nil
}

func (s *Server) addRoutes(svc *api.Service) {
	for p, h := range svc.Routes {
		if s.routes == nil {
			s.routes = map[string]http.Handler{}
		}
		s.routes[p] = h
		s.routePrefixes = append(s.routePrefixes, p)
	}
	sort.Slice(s.routePrefixes, func(i, j int) bool { return len(s.routePrefixes[i]) > len(s.routePrefixes[j]) })
}

// KMS returns the KMS service (tests and the demo drive its background
// work directly).
func (s *Server) KMS() *kms.Service { return s.kms }

// Events returns the event bus (tests call its DeliverDue).
func (s *Server) Events() *events.Service { return s.events }

// PCA returns the private CA service.
func (s *Server) PCA() *pca.Service { return s.pca }

// ACM returns the certificate manager.
func (s *Server) ACM() *acm.Service { return s.acm }

// Secrets returns Secrets Manager.
func (s *Server) Secrets() *secrets.Service { return s.secrets }
