package spec

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

func TestParseLocalYAMLAndJSONAgree(t *testing.T) {
	y, err := os.ReadFile("testdata/colorteller.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fy, err := ParseLocal(y)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(fy)
	fj, err := ParseLocal(j)
	if err != nil {
		t.Fatalf("JSON round trip: %v\n%s", err, j)
	}
	j2, _ := json.Marshal(fj)
	if string(j) != string(j2) {
		t.Errorf("YAML and JSON decode differently:\n%s\n%s", j, j2)
	}
	if got := fy.VirtualNode.Spec.Listeners[0].TLS.Validation.SubjectAlternativeNames.ExactSANs(); len(got) != 1 || got[0] != "colorgateway.mesh.local" {
		t.Errorf("SANs = %v", got)
	}
}

// TestWireNames checks member spelling against the botocore model's.
func TestWireNames(t *testing.T) {
	f := true
	s := VirtualNodeSpec{
		BackendDefaults: &BackendDefaults{ClientPolicy: &ClientPolicy{TLS: &ClientPolicyTLS{Enforce: &f, Ports: []int{443},
			Validation: &TLSValidationContext{Trust: &TrustContext{ACM: &ACMTrust{CertificateAuthorityArns: []string{"arn:a"}}}}}}},
		Listeners: []Listener{{PortMapping: &PortMapping{Port: 9080, Protocol: "http"}, TLS: &ListenerTLS{Mode: "STRICT",
			Certificate: &ListenerTLSCertificate{ACM: &ACMCertificate{CertificateArn: "arn:c"}}}}},
		ServiceDiscovery: &ServiceDiscovery{DNS: &DNSDiscovery{Hostname: "h"}},
	}
	b, _ := json.Marshal(s)
	want := `{"backendDefaults":{"clientPolicy":{"tls":{"enforce":true,"ports":[443],"validation":{"trust":{"acm":{"certificateAuthorityArns":["arn:a"]}}}}}},"listeners":[{"portMapping":{"port":9080,"protocol":"http"},"tls":{"certificate":{"acm":{"certificateArn":"arn:c"}},"mode":"STRICT"}}],"serviceDiscovery":{"dns":{"hostname":"h"}}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestValidationNamesTheMember(t *testing.T) {
	prefix := "color"
	for _, tc := range []struct {
		name  string
		err   error
		field string
	}{
		{"bad mode", (&VirtualNodeSpec{Listeners: []Listener{{PortMapping: &PortMapping{Port: 1, Protocol: "http"}, TLS: &ListenerTLS{Mode: "LAX", Certificate: &ListenerTLSCertificate{SDS: &SDSCertificate{SecretName: "s"}}}}}}).Validate(), "spec.listeners[0].tls.mode"},
		{"port out of range", (&VirtualNodeSpec{Listeners: []Listener{{PortMapping: &PortMapping{Port: 70000, Protocol: "http"}}}}).Validate(), "spec.listeners[0].portMapping.port"},
		{"two certificate kinds", (&VirtualNodeSpec{Listeners: []Listener{{PortMapping: &PortMapping{Port: 1, Protocol: "http"}, TLS: &ListenerTLS{Mode: "STRICT", Certificate: &ListenerTLSCertificate{SDS: &SDSCertificate{SecretName: "s"}, File: &FileCertificate{CertificateChain: "a", PrivateKey: "b"}}}}}}).Validate(), "spec.listeners[0].tls.certificate"},
		{"client policy without validation", (&VirtualNodeSpec{BackendDefaults: &BackendDefaults{ClientPolicy: &ClientPolicy{TLS: &ClientPolicyTLS{}}}}).Validate(), "spec.backendDefaults.clientPolicy.tls.validation"},
		{"too many CA ARNs", (&VirtualNodeSpec{BackendDefaults: &BackendDefaults{ClientPolicy: &ClientPolicy{TLS: &ClientPolicyTLS{Validation: &TLSValidationContext{Trust: &TrustContext{ACM: &ACMTrust{CertificateAuthorityArns: []string{"arn:1", "arn:2", "arn:3", "arn:4"}}}}}}}}).Validate(), "spec.backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityArns"},
		{"gateway tcp", (&VirtualGatewaySpec{Listeners: []Listener{{PortMapping: &PortMapping{Port: 1, Protocol: "tcp"}}}}).Validate(), "spec.listeners[0].portMapping.protocol"},
		{"prefix without slash", (&GatewayRouteSpec{HTTPRoute: &HTTPGatewayRoute{Match: &HTTPRouteMatch{Prefix: &prefix}, Action: &HTTPGatewayRouteAction{Target: &GatewayRouteTarget{VirtualService: &GatewayRouteService{VirtualServiceName: "v"}}}}}).Validate(), "spec.httpRoute.match.prefix"},
		{"weight over 100", (&RouteSpec{HTTPRoute: &HTTPRoute{Match: &HTTPRouteMatch{Path: &HTTPPathMatch{Exact: "/"}}, Action: &RouteAction{WeightedTargets: []WeightedTarget{{VirtualNode: "n", Weight: 101}}}}}).Validate(), "spec.httpRoute.action.weightedTargets[0].weight"},
		{"bad host:port", (&VirtualNodeSpec{ServiceDiscovery: &ServiceDiscovery{DNS: &DNSDiscovery{Hostname: "h:0"}}}).Validate(), "spec.serviceDiscovery.dns.hostname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ve *ValidationError
			if !errors.As(tc.err, &ve) {
				t.Fatalf("got %v, want a ValidationError", tc.err)
			}
			if ve.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", ve.Field, tc.field, ve)
			}
		})
	}
}

func TestSnapshotReferences(t *testing.T) {
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"unknown member", `{"meshName":"m","virtualNode":{"virtualNodeName":"n","spec":{}},"bogus":1}`, ""},
		{"neither node nor gateway", `{"meshName":"m"}`, "virtualNode"},
		{"service to unknown node", `{"meshName":"m","virtualNode":{"virtualNodeName":"n","spec":{}},"virtualServices":[{"virtualServiceName":"s","spec":{"provider":{"virtualNode":{"virtualNodeName":"x"}}}}]}`, "virtualServices[0].spec.provider.virtualNode.virtualNodeName"},
		{"nested spec error prefixed", `{"meshName":"m","virtualNode":{"virtualNodeName":"n","spec":{"listeners":[{"portMapping":{"port":0,"protocol":"http"}}]}}}`, "virtualNode.spec.listeners[0].portMapping.port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLocal([]byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			var ve *ValidationError
			if tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field) {
				t.Errorf("err = %v, want field %s", err, tc.field)
			}
		})
	}
}

func TestEgressFilterValidation(t *testing.T) {
	node := &NamedVirtualNode{Name: "n", Spec: VirtualNodeSpec{}}
	for _, tc := range []struct {
		name    string
		filter  string
		local   bool
		wantErr bool
	}{
		{"snapshot default", "", false, false},
		{"snapshot drop", EgressDropAll, false, false},
		{"snapshot allow", EgressAllowAll, false, false},
		{"snapshot unknown", "ALLOW_SOME", false, true},
		{"local drop", EgressDropAll, true, false},
		// bulwark proxy does not pass unknown destinations through.
		{"local allow", EgressAllowAll, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Snapshot{MeshName: "m", VirtualNode: node, EgressFilter: tc.filter}
			var err error
			if tc.local {
				err = (&LocalFile{Snapshot: s}).Validate()
			} else {
				err = s.Validate()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate = %v, want error %v", err, tc.wantErr)
			}
			var ve *ValidationError
			if tc.wantErr && (!errors.As(err, &ve) || ve.Field != "egressFilter") {
				t.Errorf("error %v does not name egressFilter", err)
			}
		})
	}
}
