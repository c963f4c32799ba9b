package meshclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// API is the part of the appmesh client the builder uses
// (*appmesh.Client satisfies it). A proxy's principal needs the matching
// appmesh:Describe* and appmesh:List* actions on its mesh.
type API interface {
	DescribeMesh(context.Context, *appmesh.DescribeMeshInput, ...func(*appmesh.Options)) (*appmesh.DescribeMeshOutput, error)
	DescribeVirtualNode(context.Context, *appmesh.DescribeVirtualNodeInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualNodeOutput, error)
	DescribeVirtualGateway(context.Context, *appmesh.DescribeVirtualGatewayInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualGatewayOutput, error)
	DescribeVirtualService(context.Context, *appmesh.DescribeVirtualServiceInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualServiceOutput, error)
	DescribeVirtualRouter(context.Context, *appmesh.DescribeVirtualRouterInput, ...func(*appmesh.Options)) (*appmesh.DescribeVirtualRouterOutput, error)
	DescribeRoute(context.Context, *appmesh.DescribeRouteInput, ...func(*appmesh.Options)) (*appmesh.DescribeRouteOutput, error)
	DescribeGatewayRoute(context.Context, *appmesh.DescribeGatewayRouteInput, ...func(*appmesh.Options)) (*appmesh.DescribeGatewayRouteOutput, error)
	ListVirtualNodes(context.Context, *appmesh.ListVirtualNodesInput, ...func(*appmesh.Options)) (*appmesh.ListVirtualNodesOutput, error)
	ListVirtualServices(context.Context, *appmesh.ListVirtualServicesInput, ...func(*appmesh.Options)) (*appmesh.ListVirtualServicesOutput, error)
	ListVirtualRouters(context.Context, *appmesh.ListVirtualRoutersInput, ...func(*appmesh.Options)) (*appmesh.ListVirtualRoutersOutput, error)
	ListRoutes(context.Context, *appmesh.ListRoutesInput, ...func(*appmesh.Options)) (*appmesh.ListRoutesOutput, error)
	ListGatewayRoutes(context.Context, *appmesh.ListGatewayRoutesInput, ...func(*appmesh.Options)) (*appmesh.ListGatewayRoutesOutput, error)
	ListVirtualGateways(context.Context, *appmesh.ListVirtualGatewaysInput, ...func(*appmesh.Options)) (*appmesh.ListVirtualGatewaysOutput, error)
}

// maxBody bounds one Describe response kept for decoding.
const maxBody = 4 << 20

type rawBodyKey struct{}

// keepBody is an appmesh option that keeps a copy of a successful
// response body in the result metadata, under rawBodyKey, for decodeRaw.
func keepBody(o *appmesh.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Deserialize.Insert(middleware.DeserializeMiddlewareFunc("BulwarkKeepBody",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				resp, ok := out.RawResponse.(*smithyhttp.Response)
				if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
					return out, md, err
				}
				b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
				_ = resp.Body.Close()
				if rerr != nil {
					return out, md, rerr
				}
				if len(b) > maxBody {
					return out, md, fmt.Errorf("meshclient: response larger than %d bytes", maxBody)
				}
				resp.Body = io.NopCloser(bytes.NewReader(b))
				md.Set(rawBodyKey{}, b)
				return out, md, nil
			}), "OperationDeserializer", middleware.After)
	})
}

// resource is the part of every *Data shape (VirtualNodeData, RouteData,
// ...) the builder needs; spec is decoded by the caller into its type.
type resource struct {
	Metadata struct {
		Version int64 `json:"version"`
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
}

// decodeRaw decodes the kept body of a Describe output into the spec
// type of that resource. Unknown members are ignored: the control plane
// validated the spec, and a newer one may hold members this build does
// not model.
func decodeRaw(md middleware.Metadata, spec any) (version int64, err error) {
	b, ok := md.Get(rawBodyKey{}).([]byte)
	if !ok {
		return 0, fmt.Errorf("meshclient: response body not kept (client built without keepBody?)")
	}
	var r resource
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("meshclient: decode: %w", err)
	}
	if len(r.Spec) == 0 {
		return 0, fmt.Errorf("meshclient: response has no spec")
	}
	if err := json.Unmarshal(r.Spec, spec); err != nil {
		return 0, fmt.Errorf("meshclient: decode spec: %w", err)
	}
	return r.Metadata.Version, nil
}
