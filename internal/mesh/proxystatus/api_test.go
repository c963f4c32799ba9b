package proxystatus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	meshtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// call signs a BulwarkMesh request, as the console and any SigV4 client do.
func call(t *testing.T, srv *servertest.Server, id, secret string, in any) (int, map[string]any) {
	t.Helper()
	return srv.CallJSON(t, "bulwark", "BulwarkMesh.ListConnectedProxies", id, secret, in)
}

func user(t *testing.T, srv *servertest.Server, name, policy string) (string, string) {
	t.Helper()
	ctx := context.Background()
	ic := iam.NewFromConfig(srv.AWSConfig())
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: &name}); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: &name, PolicyName: aws.String("p"), PolicyDocument: &policy}); err != nil {
			t.Fatal(err)
		}
	}
	k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: &name})
	if err != nil {
		t.Fatal(err)
	}
	return *k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey
}

// TestListConnectedProxies connects a data plane to a real server's xDS
// listener, as Envoy does (a signed stream, an ACK, then a NACK whose
// error quotes a private key), and reads it back through the API, as
// allowed and refused users.
func TestListConnectedProxies(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	am := appmesh.NewFromConfig(srv.AWSConfig())
	if _, err := am.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	if _, err := am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("teller"), Spec: &meshtypes.VirtualNodeSpec{
		Listeners:        []meshtypes.Listener{{PortMapping: &meshtypes.PortMapping{Port: aws.Int32(8080), Protocol: meshtypes.PortProtocolHttp}}},
		ServiceDiscovery: &meshtypes.ServiceDiscoveryMemberDns{Value: meshtypes.DnsServiceDiscovery{Hostname: aws.String("teller.local")}},
	}}); err != nil {
		t.Fatal(err)
	}
	nodeARN := "arn:aws:appmesh:" + servertest.Region + ":" + servertest.AccountID + ":mesh/m/virtualNode/teller"
	meshARN := "arn:aws:appmesh:" + servertest.Region + ":" + servertest.AccountID + ":mesh/m"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeXDS(ln, nil) }()
	root := credentials.NewStaticCredentialsProvider(servertest.RootAccessKeyID, servertest.RootSecretAccessKey, "")
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(&xds.SigV4Credentials{Credentials: root, Region: servertest.Region, AllowInsecure: true, Clock: srv.Clock}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recv := func(typeURL string) *discoveryv3.DiscoveryResponse {
		t.Helper()
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeARN}, TypeUrl: typeURL}); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil || r.TypeUrl != typeURL {
			t.Fatalf("%s: %v %v", typeURL, r.GetTypeUrl(), err)
		}
		return r
	}
	l := recv(resourcev3.ListenerType)
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, VersionInfo: l.VersionInfo, ResponseNonce: l.Nonce}); err != nil {
		t.Fatal(err)
	}
	c := recv(resourcev3.ClusterType)
	pem := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRET\n-----END PRIVATE KEY-----"
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: c.Nonce,
		ErrorDetail: &statuspb.Status{Code: 3, Message: "refusing cluster: " + pem}}); err != nil {
		t.Fatal(err)
	}

	// The NACK is recorded by the server when it reads it: ask until it
	// shows (no sleep, the stream is live).
	var proxies []any
	testwait.For(t, 10*time.Second, "the NACK in ListConnectedProxies", func() bool {
		code, out := call(t, srv, servertest.RootAccessKeyID, servertest.RootSecretAccessKey, map[string]any{"MeshName": "m"})
		if code != 200 {
			t.Fatalf("%d %v", code, out)
		}
		proxies = out["Proxies"].([]any)
		if len(proxies) != 1 {
			return false
		}
		cfgs := proxies[0].(map[string]any)["Configurations"].([]any)
		return len(cfgs) == 1 && cfgs[0].(map[string]any)["LastNack"] != nil
	})
	p := proxies[0].(map[string]any)
	cfg := p["Configurations"].([]any)[0].(map[string]any)
	if p["ResourceArn"] != nodeARN || p["ResourceType"] != "virtualNode" || p["ResourceName"] != "teller" || p["Streams"] != 1.0 {
		t.Errorf("proxy %v", p)
	}
	acked := cfg["Acked"].([]any)
	if len(acked) != 1 || acked[0].(map[string]any)["TypeUrl"] != resourcev3.ListenerType || acked[0].(map[string]any)["Version"] != l.VersionInfo || cfg["Version"] == "" {
		t.Errorf("acked %v, want the listener version %s", cfg, l.VersionInfo)
	}
	nack := cfg["LastNack"].(map[string]any)
	if nack["TypeUrl"] != resourcev3.ClusterType || nack["Version"] != c.VersionInfo || !strings.HasPrefix(nack["Message"].(string), "refusing cluster: ") {
		t.Errorf("NACK %v", nack)
	}
	raw, _ := json.Marshal(p)
	if bytes.Contains(raw, []byte("SECRET")) || bytes.Contains(raw, []byte("BEGIN PRIVATE KEY")) {
		t.Errorf("the answer carries the key the NACK quoted: %s", raw)
	}
	// Another mesh has no proxy.
	if _, out := call(t, srv, servertest.RootAccessKeyID, servertest.RootSecretAccessKey, map[string]any{"MeshName": "other"}); len(out["Proxies"].([]any)) != 0 {
		t.Errorf("mesh other lists %v", out)
	}

	// A second node's stream: the mesh's proxies come one per page, in
	// ARN order, without overlap.
	if _, err := am.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("zeta"), Spec: &meshtypes.VirtualNodeSpec{
		Listeners:        []meshtypes.Listener{{PortMapping: &meshtypes.PortMapping{Port: aws.Int32(8080), Protocol: meshtypes.PortProtocolHttp}}},
		ServiceDiscovery: &meshtypes.ServiceDiscoveryMemberDns{Value: meshtypes.DnsServiceDiscovery{Hostname: aws.String("zeta.local")}},
	}}); err != nil {
		t.Fatal(err)
	}
	st2, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: strings.Replace(nodeARN, "teller", "zeta", 1)}, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Recv(); err != nil {
		t.Fatal(err)
	}
	_, p1 := call(t, srv, servertest.RootAccessKeyID, servertest.RootSecretAccessKey, map[string]any{"MeshName": "m", "MaxResults": 1})
	tok, _ := p1["NextToken"].(string)
	_, p2 := call(t, srv, servertest.RootAccessKeyID, servertest.RootSecretAccessKey, map[string]any{"MeshName": "m", "MaxResults": 1, "NextToken": tok})
	name := func(out map[string]any) string {
		ps, _ := out["Proxies"].([]any)
		if len(ps) != 1 {
			return fmt.Sprint(out)
		}
		return ps[0].(map[string]any)["ResourceName"].(string)
	}
	if name(p1) != "teller" || tok == "" || name(p2) != "zeta" || p2["NextToken"] != nil {
		t.Errorf("pages: %v then %v", p1, p2)
	}

	tests := []struct {
		name, policy string
		in           map[string]any
		wantCode     string
	}{
		{"appmesh read rights are not enough", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["appmesh:Describe*","appmesh:List*"],"Resource":"*"}]}`, map[string]any{"MeshName": "m"}, "AccessDeniedException"},
		{"granted for another mesh", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bulwark:ListConnectedProxies","Resource":"` + meshARN + `x"}]}`, map[string]any{"MeshName": "m"}, "AccessDeniedException"},
		{"granted", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bulwark:ListConnectedProxies","Resource":"` + meshARN + `"}]}`, map[string]any{"MeshName": "m"}, ""},
		{"bad token", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bulwark:ListConnectedProxies","Resource":"*"}]}`, map[string]any{"MeshName": "m", "NextToken": "!!"}, "InvalidNextTokenException"},
		{"no mesh name", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bulwark:ListConnectedProxies","Resource":"*"}]}`, map[string]any{}, "ValidationException"},
		{"too many results", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bulwark:ListConnectedProxies","Resource":"*"}]}`, map[string]any{"MeshName": "m", "MaxResults": 101}, "ValidationException"},
	}
	for i, tc := range tests {
		id, secret := user(t, srv, "u"+string(rune('a'+i)), tc.policy)
		code, out := call(t, srv, id, secret, tc.in)
		typ, _ := out["__type"].(string)
		switch {
		case tc.wantCode == "" && (code != 200 || len(out["Proxies"].([]any)) != 2):
			t.Errorf("%s: %d %v", tc.name, code, out)
		case tc.wantCode != "" && !strings.HasSuffix(typ, tc.wantCode):
			t.Errorf("%s: %d %v, want %s", tc.name, code, out, tc.wantCode)
		case tc.wantCode == "AccessDeniedException" && !strings.Contains(fmt.Sprint(out), "bulwark:ListConnectedProxies"):
			t.Errorf("%s: the refusal does not name the action: %v", tc.name, out)
		}
	}
}
