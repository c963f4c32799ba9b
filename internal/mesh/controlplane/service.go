package controlplane

import (
	"crypto/rand"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/notify"
	"github.com/bulwarkd/bulwark/internal/store"
)

// Config holds a Service's dependencies. Nil fields get the defaults
// documented on each.
type Config struct {
	// Store holds every resource; required.
	Store store.Store
	// AccountID and Region build ARNs and are every resource's mesh and
	// resource owner.
	AccountID string
	Region    string
	// Clock tells the time for createdAt/lastUpdatedAt; nil means the
	// real clock.
	Clock clock.Clock
	// Rand is the source of resource uids; nil means crypto/rand.
	Rand io.Reader
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Limits are the per-account and per-mesh quotas; nil means
	// DefaultLimits (App Mesh's default quotas).
	Limits *Limits
}

// Limits are the quotas LimitExceededException enforces. A zero field
// means no limit, so a self-hosted mesh can lift the ones it outgrows.
type Limits struct {
	MeshesPerAccount         int
	VirtualNodesPerMesh      int
	VirtualServicesPerMesh   int
	VirtualRoutersPerMesh    int
	RoutesPerVirtualRouter   int
	VirtualGatewaysPerMesh   int
	GatewayRoutesPerGateway  int
	BackendsPerVirtualNode   int
	ListenersPerVirtualNode  int
	WeightedTargetsPerRoute  int
	CertificateAuthorityArns int
}

// DefaultLimits returns App Mesh's default service quotas.
func DefaultLimits() Limits {
	return Limits{
		MeshesPerAccount:         15,
		VirtualNodesPerMesh:      200,
		VirtualServicesPerMesh:   500,
		VirtualRoutersPerMesh:    200,
		RoutesPerVirtualRouter:   50,
		VirtualGatewaysPerMesh:   50,
		GatewayRoutesPerGateway:  50,
		BackendsPerVirtualNode:   50,
		ListenersPerVirtualNode:  50,
		WeightedTargetsPerRoute:  10,
		CertificateAuthorityArns: 3,
	}
}

// Service is the App Mesh control plane.
type Service struct {
	cfg    Config
	limits Limits
	log    *slog.Logger
	randMu sync.Mutex
	watch  notify.Fanout
}

// New returns a Service. Nil fields of cfg get the defaults documented on
// Config.
func New(cfg Config) *Service {
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	limits := DefaultLimits()
	if cfg.Limits != nil {
		limits = *cfg.Limits
	}
	return &Service{cfg: cfg, limits: limits, log: cfg.Logger}
}

// Kind is one of App Mesh's seven resource types.
type Kind int

// The resource kinds. Routes live under a virtual router and gateway
// routes under a virtual gateway; everything else directly in a mesh.
const (
	KindMesh Kind = iota
	KindVirtualNode
	KindVirtualService
	KindVirtualRouter
	KindRoute
	KindVirtualGateway
	KindGatewayRoute
)

// kindInfo describes a kind: its ARN segment (also its name in messages),
// its store kind, and its parent kind when it lives under a router or a
// gateway.
type kindInfo struct {
	seg       string
	storeKind string
	parent    Kind
	hasParent bool
}

var kinds = map[Kind]kindInfo{
	KindMesh:           {seg: "mesh", storeKind: "appmesh/mesh"},
	KindVirtualNode:    {seg: "virtualNode", storeKind: "appmesh/virtualNode"},
	KindVirtualService: {seg: "virtualService", storeKind: "appmesh/virtualService"},
	KindVirtualRouter:  {seg: "virtualRouter", storeKind: "appmesh/virtualRouter"},
	KindRoute:          {seg: "route", storeKind: "appmesh/route", parent: KindVirtualRouter, hasParent: true},
	KindVirtualGateway: {seg: "virtualGateway", storeKind: "appmesh/virtualGateway"},
	KindGatewayRoute:   {seg: "gatewayRoute", storeKind: "appmesh/gatewayRoute", parent: KindVirtualGateway, hasParent: true},
}

// String returns the kind's name as App Mesh writes it ("virtualNode").
func (k Kind) String() string { return kinds[k].seg }

// Key names one resource: its mesh, its router or gateway for routes and
// gateway routes, and its own name (empty Name for a mesh itself, whose
// name is Mesh).
type Key struct {
	Mesh   string
	Parent string
	Name   string
}

// id is the record id: names cannot hold "/", so prefixes list a mesh's or
// a router's children exactly.
func (k Key) id(kind Kind) string {
	switch {
	case kind == KindMesh:
		return k.Mesh
	case kinds[kind].hasParent:
		return k.Mesh + "/" + k.Parent + "/" + k.Name
	default:
		return k.Mesh + "/" + k.Name
	}
}

// ARN returns the resource's ARN in this account and region, e.g.
// arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualRouter/r/route/x.
func (s *Service) ARN(kind Kind, k Key) string {
	var b strings.Builder
	b.WriteString("arn:aws:appmesh:" + s.cfg.Region + ":" + s.cfg.AccountID + ":mesh/" + k.Mesh)
	if kind == KindMesh {
		return b.String()
	}
	info := kinds[kind]
	if info.hasParent {
		b.WriteString("/" + kinds[info.parent].seg + "/" + k.Parent)
	}
	b.WriteString("/" + info.seg + "/" + k.Name)
	return b.String()
}

// parseARN is ARN's inverse for this account and region; ok is false for
// anything else (another service, account, region or an unknown shape).
func (s *Service) parseARN(arn string) (Kind, Key, bool) {
	prefix := "arn:aws:appmesh:" + s.cfg.Region + ":" + s.cfg.AccountID + ":"
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return 0, Key{}, false
	}
	p := strings.Split(rest, "/")
	if len(p) < 2 || p[0] != "mesh" || p[1] == "" {
		return 0, Key{}, false
	}
	for _, s := range p {
		if s == "" {
			return 0, Key{}, false
		}
	}
	key := Key{Mesh: p[1]}
	switch len(p) {
	case 2:
		return KindMesh, key, true
	case 4:
		for kind, info := range kinds {
			if kind != KindMesh && !info.hasParent && info.seg == p[2] {
				key.Name = p[3]
				return kind, key, true
			}
		}
	case 6:
		for kind, info := range kinds {
			if info.hasParent && kinds[info.parent].seg == p[2] && info.seg == p[4] {
				key.Parent, key.Name = p[3], p[5]
				return kind, key, true
			}
		}
	}
	return 0, Key{}, false
}
