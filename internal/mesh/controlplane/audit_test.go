package controlplane_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/bulwarkd/bulwark/internal/redact"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestAuditRecordsLikeTheJSONServices drives App Mesh through the real
// server and reads its audit log: reads (List*, Describe*) record no
// response, as CloudTrail does and as the JSON services do, and mutations
// record their input and output with every sensitive member hidden. Before
// App Mesh used the shared REST adapter, every Describe copied the full
// spec into the audit trail.
func TestAuditRecordsLikeTheJSONServices(t *testing.T) {
	srv, cl := start(t)
	ctx := context.Background()
	const keyPath = "/etc/keys/audit-marker-private-key.pem"
	if _, err := cl.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	spec := &types.VirtualNodeSpec{
		Listeners: []types.Listener{{
			PortMapping: &types.PortMapping{Port: aws.Int32(8443), Protocol: types.PortProtocolHttp},
			Tls: &types.ListenerTls{Mode: types.ListenerTlsModeStrict, Certificate: &types.ListenerTlsCertificateMemberFile{
				Value: types.ListenerTlsFileCertificate{CertificateChain: aws.String("/etc/keys/chain.pem"), PrivateKey: aws.String(keyPath)}}},
		}},
		ServiceDiscovery: &types.ServiceDiscoveryMemberDns{Value: types.DnsServiceDiscovery{Hostname: aws.String("describe-only.local")}},
	}
	if _, err := cl.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n"), Spec: spec}); err != nil {
		t.Fatal(err)
	}
	reads := map[string]func() error{
		"DescribeMesh": func() error {
			_, err := cl.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: aws.String("m")})
			return err
		},
		"DescribeVirtualNode": func() error {
			_, err := cl.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n")})
			return err
		},
		"ListMeshes": func() error { _, err := cl.ListMeshes(ctx, &appmesh.ListMeshesInput{}); return err },
		"ListVirtualNodes": func() error {
			_, err := cl.ListVirtualNodes(ctx, &appmesh.ListVirtualNodesInput{MeshName: aws.String("m")})
			return err
		},
		"ListTagsForResource": func() error {
			_, err := cl.ListTagsForResource(ctx, &appmesh.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:appmesh:" + srv.AWSConfig().Region + ":" + servertest.AccountID + ":mesh/m")})
			return err
		},
	}
	for name, call := range reads {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	events := auditEvents(t, srv.DataDir)
	seen := map[string]bool{}
	for _, ev := range events {
		name, _ := ev["eventName"].(string)
		if ev["eventSource"] != "appmesh.amazonaws.com" {
			continue
		}
		seen[name] = true
		line, _ := json.Marshal(ev)
		if bytes.Contains(line, []byte(keyPath)) {
			t.Errorf("%s: the audit event holds the private key member's value: %s", name, line)
		}
		if _, isRead := reads[name]; isRead {
			if ev["readOnly"] != true {
				t.Errorf("%s: readOnly = %v", name, ev["readOnly"])
			}
			if ev["responseElements"] != nil {
				t.Errorf("%s: a read recorded its response: %s", name, line)
			}
			if bytes.Contains(line, []byte("describe-only.local")) {
				t.Errorf("%s: the spec reached the audit log through a read: %s", name, line)
			}
		}
		if name == "CreateVirtualNode" && ev["eventType"] != "BulwarkApiCallIntent" && ev["errorCode"] == nil {
			for _, member := range []string{"requestParameters", "responseElements"} {
				b, _ := json.Marshal(ev[member])
				if !strings.Contains(string(b), `"privateKey":"`+redact.Hidden+`"`) {
					t.Errorf("CreateVirtualNode %s: privateKey is not hidden: %s", member, b)
				}
				if !strings.Contains(string(b), "describe-only.local") {
					t.Errorf("CreateVirtualNode %s: the rest of the spec is missing: %s", member, b)
				}
			}
		}
	}
	for name := range reads {
		if !seen[name] {
			t.Errorf("no audit event for %s", name)
		}
	}
	if !seen["CreateVirtualNode"] {
		t.Error("no audit event for CreateVirtualNode")
	}
}

func auditEvents(t *testing.T, dataDir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line: %v", err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
