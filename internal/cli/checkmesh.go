package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy"
)

// maxMeshBody bounds one captured App Mesh answer; a spec is kilobytes.
const maxMeshBody = 4 << 20

// rawBody keeps the wire JSON of the last App Mesh answer, so the spec
// can be read in the data plane's own types (internal/mesh/spec, whose
// JSON names are the wire's) rather than translated from the SDK's.
type rawBody struct {
	mu   sync.Mutex
	last []byte
}

func (r *rawBody) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.last
	r.last = nil
	return b
}

// checkLiveMesh checks every virtual node and gateway of mesh on the
// server: settings the proxy does not enforce, and ACM / ACM PCA ARNs
// that do not resolve.
func (c *checker) checkLiveMesh(ctx context.Context, mesh string) {
	raw := &rawBody{}
	client := appmesh.NewFromConfig(c.cfg, func(o *appmesh.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			// Runs after the transport, before the SDK's deserializer.
			return st.Deserialize.Insert(middleware.DeserializeMiddlewareFunc("bulwarkCheckCapture",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
						b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxMeshBody))
						resp.Body.Close()
						resp.Body = io.NopCloser(bytes.NewReader(b))
						if rerr == nil {
							raw.mu.Lock()
							raw.last = b
							raw.mu.Unlock()
						}
					}
					return out, md, err
				}), "OperationDeserializer", middleware.After)
		})
	})
	subject := "mesh/" + mesh
	var nodes, gateways []string
	np := appmesh.NewListVirtualNodesPaginator(client, &appmesh.ListVirtualNodesInput{MeshName: aws.String(mesh)})
	for np.HasMorePages() {
		page, err := np.NextPage(ctx)
		if err != nil {
			c.add(sevError, "config", subject, "listing virtual nodes: %v", err)
			return
		}
		for _, n := range page.VirtualNodes {
			nodes = append(nodes, aws.ToString(n.VirtualNodeName))
		}
	}
	gp := appmesh.NewListVirtualGatewaysPaginator(client, &appmesh.ListVirtualGatewaysInput{MeshName: aws.String(mesh)})
	for gp.HasMorePages() {
		page, err := gp.NextPage(ctx)
		if err != nil {
			c.add(sevError, "config", subject, "listing virtual gateways: %v", err)
			return
		}
		for _, g := range page.VirtualGateways {
			gateways = append(gateways, aws.ToString(g.VirtualGatewayName))
		}
	}
	check := func(what string, snap *spec.Snapshot, body []byte) {
		if err := proxy.CheckEnforceable(snap); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				c.add(sevError, "unenforced", what, "%s", strings.TrimPrefix(line, "proxy: "))
			}
		}
		var tree any
		if json.Unmarshal(body, &tree) != nil {
			return
		}
		var arns []string
		walkJSON(tree, func(key string, v any) {
			switch key {
			case "certificateArn":
				if s, ok := v.(string); ok {
					arns = append(arns, s)
				}
			case "certificateAuthorityArns":
				arns = append(arns, asStrings(v)...)
			}
		})
		c.checkARNs(ctx, arns)
	}
	for _, n := range nodes {
		what := subject + "/virtualNode/" + n
		raw.take()
		if _, err := client.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String(mesh), VirtualNodeName: aws.String(n)}); err != nil {
			c.add(sevError, "config", what, "%v", err)
			continue
		}
		body := raw.take()
		// The answer's payload is the virtual node itself (REST-JSON).
		var vn spec.NamedVirtualNode
		if err := json.Unmarshal(body, &vn); err != nil {
			c.add(sevError, "config", what, "answer does not decode: %v", err)
			continue
		}
		check(what, &spec.Snapshot{MeshName: mesh, VirtualNode: &vn}, body)
	}
	for _, g := range gateways {
		what := subject + "/virtualGateway/" + g
		raw.take()
		if _, err := client.DescribeVirtualGateway(ctx, &appmesh.DescribeVirtualGatewayInput{MeshName: aws.String(mesh), VirtualGatewayName: aws.String(g)}); err != nil {
			c.add(sevError, "config", what, "%v", err)
			continue
		}
		body := raw.take()
		var vg spec.NamedVirtualGateway
		if err := json.Unmarshal(body, &vg); err != nil {
			c.add(sevError, "config", what, "answer does not decode: %v", err)
			continue
		}
		check(what, &spec.Snapshot{MeshName: mesh, VirtualGateway: &vg}, body)
	}
	if len(nodes)+len(gateways) == 0 {
		c.add(sevWarning, "config", subject, "has no virtual node or gateway to check")
	}
}
