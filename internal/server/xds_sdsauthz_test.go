package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	meshtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// sotwFetch asks for every resource of typeURL on an open stream (the
// first call carries the node) and returns the response after ACKing it.
func sotwFetch(t *testing.T, st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node *corev3.Node, typeURL string) *discoveryv3.DiscoveryResponse {
	t.Helper()
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typeURL}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatalf("%s: %v", typeURL, err)
	}
	if r.TypeUrl != typeURL {
		t.Fatalf("asked for %s, got %s", typeURL, r.TypeUrl)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
		t.Fatal(err)
	}
	return r
}

// carriesKey reports whether any secret of a response holds a private key.
func carriesKey(t *testing.T, r *discoveryv3.DiscoveryResponse) bool {
	t.Helper()
	for _, a := range r.Resources {
		sec := &tlsv3.Secret{}
		if err := a.UnmarshalTo(sec); err != nil {
			t.Fatal(err)
		}
		if len(sec.GetTlsCertificate().GetPrivateKey().GetInlineBytes()) > 0 {
			return true
		}
	}
	return false
}

func exportPolicy(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"appmesh:StreamAggregatedResources","Resource":"*"}` +
		func() string {
			out := ""
			for _, s := range stmts {
				out += "," + s
			}
			return out
		}() + `]}`
}

// TestXDSCertificateDeliveryIsAuthorized is the attack class "receive a
// private key over SDS you may not export": whoever may stream a node
// gets the ACM certificates its spec names only if its principal is
// allowed acm:ExportCertificate on each of them (as App Mesh required of
// the Envoy's role). Otherwise the certificate, and the listener using
// it, are not sent, the refusal is audited and counted, and the stream
// stays up (no NACK).
func TestXDSCertificateDeliveryIsAuthorized(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	ctx := context.Background()
	if _, err := e.acm.AddTagsToCertificate(ctx, &awsacm.AddTagsToCertificateInput{CertificateArn: &e.certARN,
		Tags: []acmtypes.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}}); err != nil {
		t.Fatal(err)
	}
	// A node whose spec names a certificate of another account.
	foreignCert := "arn:aws:acm:" + servertest.Region + ":999999999999:certificate/11111111-2222-3333-4444-555555555555"
	foreignNode := fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/color-mesh/virtualNode/foreign", servertest.Region, servertest.AccountID)
	if _, err := e.mesh.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("foreign"), Spec: &meshtypes.VirtualNodeSpec{
		Listeners: []meshtypes.Listener{{
			PortMapping: &meshtypes.PortMapping{Port: aws.Int32(9080), Protocol: meshtypes.PortProtocolHttp},
			Tls: &meshtypes.ListenerTls{Mode: meshtypes.ListenerTlsModeStrict,
				Certificate: &meshtypes.ListenerTlsCertificateMemberAcm{Value: meshtypes.ListenerTlsAcmCertificate{CertificateArn: aws.String(foreignCert)}}},
		}},
		ServiceDiscovery: &meshtypes.ServiceDiscoveryMemberDns{Value: meshtypes.DnsServiceDiscovery{Hostname: aws.String("foreign.mesh.local")}},
	}}); err != nil {
		t.Fatal(err)
	}
	otherCert := "arn:aws:acm:" + servertest.Region + ":" + servertest.AccountID + ":certificate/00000000-0000-0000-0000-000000000000"
	allowCert := func(res string) string {
		return `{"Effect":"Allow","Action":"acm:ExportCertificate","Resource":"` + res + `"}`
	}
	cases := []struct {
		name   string
		policy string
		node   string
		want   bool
	}{
		{"allowed on the certificate", exportPolicy(allowCert(e.certARN)), e.nodeARN, true},
		{"allowed by resource tag", exportPolicy(`{"Effect":"Allow","Action":"acm:ExportCertificate","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}`), e.nodeARN, true},
		{"allowed by wildcard action", exportPolicy(`{"Effect":"Allow","Action":"acm:*","Resource":"*"}`), e.nodeARN, true},
		{"denied: no export permission", exportPolicy(), e.nodeARN, false},
		{"denied: other ACM actions only", exportPolicy(`{"Effect":"Allow","Action":["acm:GetCertificate","acm:DescribeCertificate"],"Resource":"` + e.certARN + `"}`), e.nodeARN, false},
		{"denied by resource tag", exportPolicy(`{"Effect":"Allow","Action":"acm:ExportCertificate","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"red"}}}`), e.nodeARN, false},
		{"denied: explicit deny", exportPolicy(allowCert("*"), `{"Effect":"Deny","Action":"acm:ExportCertificate","Resource":"`+e.certARN+`"}`), e.nodeARN, false},
		{"denied: permission for another certificate", exportPolicy(allowCert(otherCert)), e.nodeARN, false},
		{"denied: permission for another account's certificates", exportPolicy(allowCert("arn:aws:acm:*:999999999999:certificate/*")), e.nodeARN, false},
		{"another account's certificate named by the node", exportPolicy(allowCert("*")), foreignNode, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			creds := e.user(t, fmt.Sprintf("envoy-%d", i), tc.policy)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := e.dial(t, creds, "").StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			node := &corev3.Node{Id: tc.node, Cluster: tc.node}
			lds := sotwFetch(t, st, node, resourcev3.ListenerType)
			sds := sotwFetch(t, st, nil, resourcev3.SecretType)
			if got := len(lds.Resources) == 1; got != tc.want {
				t.Errorf("listener sent = %v, want %v", got, tc.want)
			}
			if got := carriesKey(t, sds); got != tc.want {
				t.Errorf("private key sent = %v, want %v", got, tc.want)
			}
			// The ingress cluster (no certificate) is served either way:
			// the stream is not refused, only the certificate is withheld.
			if cds := sotwFetch(t, st, nil, resourcev3.ClusterType); len(cds.Resources) != 1 {
				t.Errorf("%d clusters, want the ingress cluster", len(cds.Resources))
			}
		})
	}
	denied, allowed := countSecretEvents(t, e.srv, "AccessDeniedException"), countSecretEvents(t, e.srv, "")
	// The foreign certificate is allowed by policy (audited as allowed)
	// and then cannot be loaded: it is withheld as "unavailable".
	if allowed != 4 {
		t.Errorf("%d allowed StreamSecret audit events, want 4", allowed)
	}
	if denied != 6 {
		t.Errorf("%d denied StreamSecret audit events, want 6", denied)
	}
	_, body := get(t, e.srv.URL+"/metrics")
	for _, want := range []string{`bulwark_xds_certificates_withheld_total{reason="denied"} 6`, `bulwark_xds_certificates_withheld_total{reason="unavailable"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestXDSUnsignedStreamsGetNoPrivateKeys: a stream without an IAM
// principal (allowUnsigned) is configured, but no ACM private key reaches
// it, whatever the policies say.
func TestXDSUnsignedStreamsGetNoPrivateKeys(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t, func(c *server.Config) { c.XDSAllowUnsigned = true })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := e.dial(t, nil, "").StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lds := sotwFetch(t, st, &corev3.Node{Id: e.nodeARN}, resourcev3.ListenerType)
	if len(lds.Resources) != 0 {
		t.Error("the listener using the withheld certificate was sent")
	}
	if carriesKey(t, sotwFetch(t, st, nil, resourcev3.SecretType)) {
		t.Fatal("an unsigned stream received a private key")
	}
	if n := countSecretEvents(t, e.srv, "AccessDeniedException"); n != 1 {
		t.Fatalf("%d denied StreamSecret events, want 1", n)
	}
}

// countSecretEvents counts StreamSecret audit events with an error code
// ("" for allowed ones).
func countSecretEvents(t *testing.T, srv *servertest.Server, errCode string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var ev audit.Event
		if err := jsonUnmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.EventName == "StreamSecret" && ev.ErrorCode == errCode {
			if bytes.Contains(l, []byte("PRIVATE KEY")) {
				t.Fatal("an audit event carries key material")
			}
			if ev.ReadOnly {
				// A read-only event may be answered before its fsync
				// (ReadSyncDelay): a private key must not leave before
				// the record of its delivery is on disk, as the API's
				// ExportCertificate does not.
				t.Error("a StreamSecret event is recorded read-only")
			}
			n++
		}
	}
	return n
}

// TestXDSRevokedOrDeletedCertificateIsWithdrawn: when a certificate a node
// uses is revoked or deleted, or the key that signed the stream is
// deactivated, the next push takes the certificate, and the listener
// using it, out of the data plane's configuration: no stale key stays.
func TestXDSRevokedOrDeletedCertificateIsWithdrawn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(ctx context.Context, e *xdsEnv, creds aws.CredentialsProvider) error
		metric string // the withholding counted
	}{
		{"revoked", func(ctx context.Context, e *xdsEnv, _ aws.CredentialsProvider) error {
			_, err := e.acm.RevokeCertificate(ctx, &awsacm.RevokeCertificateInput{CertificateArn: &e.certARN, RevocationReason: acmtypes.RevocationReasonKeyCompromise})
			return err
		}, "unavailable"},
		{"deleted", func(ctx context.Context, e *xdsEnv, _ aws.CredentialsProvider) error {
			_, err := e.acm.DeleteCertificate(ctx, &awsacm.DeleteCertificateInput{CertificateArn: &e.certARN})
			return err
		}, "unavailable"},
		// The stream stays open after the access key that signed it is
		// deactivated: the next rebuild (the certificate's renewal) must
		// not deliver the renewed private key to it.
		{"signing key deactivated, then renewed", func(ctx context.Context, e *xdsEnv, creds aws.CredentialsProvider) error {
			c, err := creds.Retrieve(ctx)
			if err != nil {
				return err
			}
			if _, err := e.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("envoy"), AccessKeyId: &c.AccessKeyID, Status: iamtypes.StatusTypeInactive}); err != nil {
				return err
			}
			_, err = e.acm.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: &e.certARN})
			return err
		}, "denied"},
		// An IAM change alone, with nothing else rebuilding the node: the
		// stream may still stream, but no longer export the certificate.
		{"export permission removed from the policy", func(ctx context.Context, e *xdsEnv, _ aws.CredentialsProvider) error {
			_, err := e.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("envoy"), PolicyName: aws.String("xds"), PolicyDocument: aws.String(streamPolicy(e.nodeARN))})
			return err
		}, "denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startXDSEnv(t)
			creds := e.user(t, "envoy", streamExportPolicy(e.nodeARN, e.certARN))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := e.dial(t, creds, "").StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if lds := sotwFetch(t, st, &corev3.Node{Id: e.nodeARN}, resourcev3.ListenerType); len(lds.Resources) != 1 {
				t.Fatalf("%d listeners before the change", len(lds.Resources))
			}
			if !carriesKey(t, sotwFetch(t, st, nil, resourcev3.SecretType)) {
				t.Fatal("no key before the change")
			}
			if err := tc.change(ctx, e, creds); err != nil {
				t.Fatal(err)
			}
			expectWithdrawn(t, st)
			_, body := get(t, e.srv.URL+"/metrics")
			if !strings.Contains(body, `bulwark_xds_certificates_withheld_total{reason="`+tc.metric+`"} 1`) {
				t.Errorf("the withdrawal was not counted as %s", tc.metric)
			}
		})
	}
}

// expectWithdrawn reads pushes (ACKing each) until both the listeners and
// the secrets have been sent again, and fails if either still carries the
// certificate's listener or its private key.
func expectWithdrawn(t *testing.T, st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	t.Helper()
	gotLDS, gotSDS := false, false
	for !gotLDS || !gotSDS {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch r.TypeUrl {
		case resourcev3.ListenerType:
			if len(r.Resources) != 0 {
				t.Fatalf("the push still carries %d listeners", len(r.Resources))
			}
			gotLDS = true
		case resourcev3.SecretType:
			if carriesKey(t, r) {
				t.Fatal("the push still carries the key")
			}
			gotSDS = true
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestXDSStreamEndsWhenItsPermissionGoes: when the principal that signed a
// live stream loses appmesh:StreamAggregatedResources (its policy is
// deleted) or the signing key is deleted or deactivated, the change takes
// effect at once: the certificate and its listener are withdrawn, and the
// stream then ends with PermissionDenied, audited as a refusal.
func TestXDSStreamEndsWhenItsPermissionGoes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(ctx context.Context, e *xdsEnv, keyID string) error
	}{
		{"policy deleted", func(ctx context.Context, e *xdsEnv, _ string) error {
			_, err := e.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("envoy"), PolicyName: aws.String("xds")})
			return err
		}},
		{"access key deleted", func(ctx context.Context, e *xdsEnv, keyID string) error {
			_, err := e.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("envoy"), AccessKeyId: &keyID})
			return err
		}},
		{"access key deactivated", func(ctx context.Context, e *xdsEnv, keyID string) error {
			_, err := e.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("envoy"), AccessKeyId: &keyID, Status: iamtypes.StatusTypeInactive})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startXDSEnv(t)
			creds := e.user(t, "envoy", streamExportPolicy(e.nodeARN, e.certARN))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := e.dial(t, creds, "").StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if lds := sotwFetch(t, st, &corev3.Node{Id: e.nodeARN}, resourcev3.ListenerType); len(lds.Resources) != 1 {
				t.Fatalf("%d listeners before the change", len(lds.Resources))
			}
			if !carriesKey(t, sotwFetch(t, st, nil, resourcev3.SecretType)) {
				t.Fatal("no key before the change")
			}
			c, err := creds.Retrieve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.change(ctx, e, c.AccessKeyID); err != nil {
				t.Fatal(err)
			}
			expectWithdrawn(t, st)
			if _, err := st.Recv(); status.Code(err) != codes.PermissionDenied {
				t.Fatalf("the stream went on after its permission went: %v", err)
			}
			_, body := get(t, e.srv.URL+"/metrics")
			if !strings.Contains(body, `bulwark_xds_streams_refused_total{reason="revoked"} 1`) {
				t.Error("the revocation was not counted")
			}
			found := false
			for _, ev := range readAudit(t, e.srv) {
				if ev.EventName == "StreamAggregatedResources" && ev.ErrorCode == "AccessDeniedException" && fmt.Sprint(ev.RequestParameters) != "" && strings.Contains(fmt.Sprint(ev.RequestParameters), "reauthorization:true") {
					found = true
				}
			}
			if !found {
				t.Error("the revocation was not audited")
			}
		})
	}
}
