package meshclient_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/meshclient"
	"github.com/bulwarkd/bulwark/internal/proxy/meshclient/meshfake"
)

const (
	tellerNode = `{"listeners":[{"portMapping":{"port":9080,"protocol":"http"},
		"tls":{"mode":"STRICT","certificate":{"acm":{"certificateArn":"arn:aws:acm:us-east-1:111122223333:certificate/teller"}},
		"validation":{"trust":{"acm":{"certificateAuthorityArns":["arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/gw"]}}}}}],
		"serviceDiscovery":{"dns":{"hostname":"colorteller.mesh.local"}},
		"backends":[{"virtualService":{"virtualServiceName":"colorteller-blue.mesh.local"}},{"virtualService":{"virtualServiceName":"not-yet.mesh.local"}}]}`
	blueNode = `{"listeners":[{"portMapping":{"port":9080,"protocol":"http"}}],"serviceDiscovery":{"dns":{"hostname":"blue.mesh.local"}}}`
	gateway  = `{"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}],
		"backendDefaults":{"clientPolicy":{"tls":{"certificate":{"sds":{"secretName":"colorgateway"}},
		"validation":{"trust":{"acm":{"certificateAuthorityArns":["arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/teller"]}}}}}}}`
	gwRoute = `{"httpRoute":{"match":{"prefix":"/"},"action":{"target":{"virtualService":{"virtualServiceName":"colorteller.mesh.local"}}}}}`
)

func route(weightTeller, weightBlue int) string {
	return `{"httpRoute":{"match":{"prefix":"/"},"action":{"weightedTargets":[{"virtualNode":"colorteller","weight":` +
		strconv.Itoa(weightTeller) + `},{"virtualNode":"colorteller-blue","weight":` + strconv.Itoa(weightBlue) + `}]}}}`
}

// colorMesh fills a fake control plane with the Color App: a gateway
// routing to colorteller.mesh.local, provided by a router splitting
// between two nodes.
func colorMesh(t *testing.T) *meshfake.Server {
	f := meshfake.New(t, "color-mesh")
	f.Put("virtualNodes", "", "colorteller", tellerNode)
	f.Put("virtualNodes", "", "colorteller-blue", blueNode)
	f.Put("virtualNodes", "", "unrelated", blueNode)
	f.Put("virtualRouters", "", "colorteller-router", `{"listeners":[{"portMapping":{"port":9080,"protocol":"http"}}]}`)
	f.Put("routes", "colorteller-router", "color-route", route(1, 0))
	f.Put("virtualServices", "", "colorteller.mesh.local", `{"provider":{"virtualRouter":{"virtualRouterName":"colorteller-router"}}}`)
	f.Put("virtualServices", "", "colorteller-blue.mesh.local", `{"provider":{"virtualNode":{"virtualNodeName":"colorteller-blue"}}}`)
	f.Put("virtualGateways", "", "colorgateway", gateway)
	f.Put("gatewayRoutes", "colorgateway", "to-colorteller", gwRoute)
	return f
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestBuild(t *testing.T) {
	t.Parallel()
	f := colorMesh(t)
	for _, tc := range []struct {
		name      string
		cfg       meshclient.Config
		check     func(t *testing.T, s *spec.Snapshot)
		wantNodes []string
	}{
		{
			name: "virtual gateway", cfg: meshclient.Config{VirtualGateway: "colorgateway"},
			wantNodes: []string{"colorteller", "colorteller-blue"},
			check: func(t *testing.T, s *spec.Snapshot) {
				p := s.VirtualGateway.Spec.BackendDefaults.ClientPolicy.TLS
				if p.Certificate.SDS.SecretName != "colorgateway" || p.Validation.Trust.ACM == nil {
					t.Errorf("client policy not decoded: %+v", p)
				}
				if len(s.GatewayRoutes) != 1 || s.GatewayRoutes[0].Spec.Target().VirtualService.VirtualServiceName != "colorteller.mesh.local" {
					t.Errorf("gateway routes %+v", s.GatewayRoutes)
				}
				if len(s.Routes) != 1 || s.Routes[0].VirtualRouterName != "colorteller-router" || len(s.VirtualRouters) != 1 {
					t.Errorf("routes %+v routers %+v", s.Routes, s.VirtualRouters)
				}
			},
		},
		{
			name: "virtual node", cfg: meshclient.Config{VirtualNode: "colorteller"},
			wantNodes: []string{"colorteller-blue"},
			check: func(t *testing.T, s *spec.Snapshot) {
				tls := s.VirtualNode.Spec.Listeners[0].TLS
				// The Bulwark extension the SDK's typed unions would drop.
				if tls.Validation == nil || tls.Validation.Trust.ACM == nil || len(tls.Validation.Trust.ACM.CertificateAuthorityArns) != 1 {
					t.Errorf("acm listener trust lost: %+v", tls.Validation)
				}
				if tls.Certificate.ACM == nil {
					t.Errorf("acm certificate lost")
				}
				if len(s.VirtualNode.Spec.Backends) != 1 {
					t.Errorf("backends %+v: the missing service should be left out", s.VirtualNode.Spec.Backends)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.API, cfg.Mesh, cfg.Logger = f.Client(), "color-mesh", quiet()
			c, err := meshclient.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Build(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("built snapshot does not validate: %v", err)
			}
			var names []string
			for _, n := range s.VirtualNodes {
				names = append(names, n.Name)
			}
			if len(names) != len(tc.wantNodes) || (len(names) > 0 && names[0] != tc.wantNodes[0]) {
				t.Errorf("virtual nodes %v, want %v", names, tc.wantNodes)
			}
			tc.check(t, s)
		})
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	f := colorMesh(t)
	for _, tc := range []struct {
		name string
		cfg  meshclient.Config
	}{
		{"unknown mesh", meshclient.Config{Mesh: "other", VirtualNode: "colorteller"}},
		{"unknown node", meshclient.Config{Mesh: "color-mesh", VirtualNode: "nobody"}},
		{"unknown gateway", meshclient.Config{Mesh: "color-mesh", VirtualGateway: "nobody"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.API, cfg.Logger = f.Client(), quiet()
			c, err := meshclient.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Build(context.Background()); err == nil {
				t.Error("Build succeeded")
			}
		})
	}
	if _, err := meshclient.New(meshclient.Config{API: f.Client(), Mesh: "m", VirtualNode: "a", VirtualGateway: "b"}); err == nil {
		t.Error("New accepted both a node and a gateway")
	}
}

// TestPollFollowsVersions checks that an unchanged mesh costs no Describe
// call, a route update yields the new snapshot, and a version bump that
// changes nothing the proxy uses yields no update.
func TestPollFollowsVersions(t *testing.T) {
	t.Parallel()
	f := colorMesh(t)
	c, err := meshclient.New(meshclient.Config{API: f.Client(), Mesh: "color-mesh", VirtualGateway: "colorgateway", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	weightOf := func(s *spec.Snapshot) int { return s.Routes[0].Spec.RouteAction().WeightedTargets[1].Weight }
	steps := []struct {
		name        string
		change      func()
		wantChanged bool
		wantRebuild bool
		wantBlue    int
	}{
		{"first poll", func() {}, true, true, 0},
		{"nothing changed", func() {}, false, false, 0},
		{"route weights changed", func() { f.Put("routes", "colorteller-router", "color-route", route(0, 1)) }, true, true, 1},
		{"unrelated node re-put", func() { f.Put("virtualNodes", "", "unrelated", blueNode) }, false, true, 1},
	}
	for _, st := range steps {
		st.change()
		before := f.Describes()
		s, changed, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if changed != st.wantChanged {
			t.Errorf("%s: changed = %v, want %v", st.name, changed, st.wantChanged)
		}
		if rebuilt := f.Describes() > before; rebuilt != st.wantRebuild {
			t.Errorf("%s: rebuilt = %v, want %v", st.name, rebuilt, st.wantRebuild)
		}
		if got := weightOf(s); got != st.wantBlue {
			t.Errorf("%s: blue weight %d, want %d", st.name, got, st.wantBlue)
		}
	}
}
