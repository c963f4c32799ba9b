package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// SDK is the API through the aws-sdk-go-v2 App Mesh client, so the import
// goes over the wire API (SigV4, endpoint resolution, retries, errors)
// like any other client and works against AWS App Mesh too.
//
// The SDK's spec types are unions without JSON codecs, and translating the
// whole App Mesh model into them would lose every member the SDK version
// does not know. So each call is made with the typed names and tags, and
// one middleware puts the spec JSON in the serialized body (before
// signing); Describe reads the spec from the raw answer the same way.
type SDK struct {
	Client *appmesh.Client
}

// maxAnswer bounds the answer body Describe keeps.
const maxAnswer = 8 << 20

// withSpec replaces the "spec" member of the serialized request body. The
// SDK's own input validation would check the placeholder spec, not the
// one sent, so it is removed; the server validates what it receives.
func withSpec(spec json.RawMessage) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		if _, err := st.Initialize.Remove("OperationInputValidation"); err != nil {
			return err
		}
		return st.Serialize.Add(middleware.SerializeMiddlewareFunc("BulwarkImportSpec",
			func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
				req, ok := in.Request.(*smithyhttp.Request)
				if !ok || req.GetStream() == nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, errors.New("importer: no request body to put the spec in")
				}
				body, err := io.ReadAll(req.GetStream())
				if err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				var m map[string]json.RawMessage
				if err := json.Unmarshal(body, &m); err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("importer: request body: %w", err)
				}
				m["spec"] = spec
				if body, err = json.Marshal(m); err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				if req, err = req.SetStream(bytes.NewReader(body)); err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				in.Request = req
				return next.HandleSerialize(ctx, in)
			}), middleware.After)
	}
}

// captureBody keeps a copy of a successful answer's body for the caller.
func captureBody(dst *[]byte) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("BulwarkImportCapture",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				resp, ok := out.RawResponse.(*smithyhttp.Response)
				if !ok || resp.StatusCode < 200 || resp.StatusCode > 299 {
					return out, md, nil
				}
				b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
				resp.Body.Close()
				if err != nil {
					return out, md, err
				}
				if len(b) > maxAnswer {
					return out, md, fmt.Errorf("importer: answer larger than %d bytes", maxAnswer)
				}
				*dst = b
				resp.Body = io.NopCloser(bytes.NewReader(b))
				return out, md, nil
			}), middleware.After)
	}
}

func addOpt(fn func(*middleware.Stack) error) func(*appmesh.Options) {
	return func(o *appmesh.Options) { o.APIOptions = append(o.APIOptions, fn) }
}

// Describe implements API.
func (s SDK) Describe(ctx context.Context, r *Resource) (json.RawMessage, bool, error) {
	var raw []byte
	opt := addOpt(captureBody(&raw))
	m := aws.String(r.Mesh)
	var err error
	switch r.Kind {
	case KindMesh:
		_, err = s.Client.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: m}, opt)
	case KindVirtualNode:
		_, err = s.Client.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: m, VirtualNodeName: aws.String(r.Name)}, opt)
	case KindVirtualService:
		_, err = s.Client.DescribeVirtualService(ctx, &appmesh.DescribeVirtualServiceInput{MeshName: m, VirtualServiceName: aws.String(r.Name)}, opt)
	case KindVirtualRouter:
		_, err = s.Client.DescribeVirtualRouter(ctx, &appmesh.DescribeVirtualRouterInput{MeshName: m, VirtualRouterName: aws.String(r.Name)}, opt)
	case KindRoute:
		_, err = s.Client.DescribeRoute(ctx, &appmesh.DescribeRouteInput{MeshName: m, VirtualRouterName: aws.String(r.Parent), RouteName: aws.String(r.Name)}, opt)
	case KindVirtualGateway:
		_, err = s.Client.DescribeVirtualGateway(ctx, &appmesh.DescribeVirtualGatewayInput{MeshName: m, VirtualGatewayName: aws.String(r.Name)}, opt)
	case KindGatewayRoute:
		_, err = s.Client.DescribeGatewayRoute(ctx, &appmesh.DescribeGatewayRouteInput{MeshName: m, VirtualGatewayName: aws.String(r.Parent), GatewayRouteName: aws.String(r.Name)}, opt)
	default:
		return nil, false, fmt.Errorf("unknown kind %q", r.Kind)
	}
	var nf *types.NotFoundException
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var data struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		return nil, false, fmt.Errorf("reading the %s answer: %w", r.Kind, err)
	}
	return data.Spec, true, nil
}

func sdkTags(tags []Tag) []types.TagRef {
	var out []types.TagRef
	for _, t := range tags {
		out = append(out, types.TagRef{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	return out
}

// Create implements API.
func (s SDK) Create(ctx context.Context, r *Resource) error {
	opt := addOpt(withSpec(r.Spec))
	m, n, tags := aws.String(r.Mesh), aws.String(r.Name), sdkTags(r.Tags)
	var err error
	switch r.Kind {
	case KindMesh:
		_, err = s.Client.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: m, Spec: &types.MeshSpec{}, Tags: tags}, opt)
	case KindVirtualNode:
		_, err = s.Client.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: m, VirtualNodeName: n, Spec: &types.VirtualNodeSpec{}, Tags: tags}, opt)
	case KindVirtualService:
		_, err = s.Client.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: m, VirtualServiceName: n, Spec: &types.VirtualServiceSpec{}, Tags: tags}, opt)
	case KindVirtualRouter:
		_, err = s.Client.CreateVirtualRouter(ctx, &appmesh.CreateVirtualRouterInput{MeshName: m, VirtualRouterName: n, Spec: &types.VirtualRouterSpec{}, Tags: tags}, opt)
	case KindRoute:
		_, err = s.Client.CreateRoute(ctx, &appmesh.CreateRouteInput{MeshName: m, VirtualRouterName: aws.String(r.Parent), RouteName: n, Spec: &types.RouteSpec{}, Tags: tags}, opt)
	case KindVirtualGateway:
		_, err = s.Client.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: m, VirtualGatewayName: n, Spec: &types.VirtualGatewaySpec{}, Tags: tags}, opt)
	case KindGatewayRoute:
		_, err = s.Client.CreateGatewayRoute(ctx, &appmesh.CreateGatewayRouteInput{MeshName: m, VirtualGatewayName: aws.String(r.Parent), GatewayRouteName: n, Spec: &types.GatewayRouteSpec{}, Tags: tags}, opt)
	default:
		err = fmt.Errorf("unknown kind %q", r.Kind)
	}
	return err
}

// Update implements API.
func (s SDK) Update(ctx context.Context, r *Resource) error {
	opt := addOpt(withSpec(r.Spec))
	m, n := aws.String(r.Mesh), aws.String(r.Name)
	var err error
	switch r.Kind {
	case KindMesh:
		_, err = s.Client.UpdateMesh(ctx, &appmesh.UpdateMeshInput{MeshName: m, Spec: &types.MeshSpec{}}, opt)
	case KindVirtualNode:
		_, err = s.Client.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: m, VirtualNodeName: n, Spec: &types.VirtualNodeSpec{}}, opt)
	case KindVirtualService:
		_, err = s.Client.UpdateVirtualService(ctx, &appmesh.UpdateVirtualServiceInput{MeshName: m, VirtualServiceName: n, Spec: &types.VirtualServiceSpec{}}, opt)
	case KindVirtualRouter:
		_, err = s.Client.UpdateVirtualRouter(ctx, &appmesh.UpdateVirtualRouterInput{MeshName: m, VirtualRouterName: n, Spec: &types.VirtualRouterSpec{}}, opt)
	case KindRoute:
		_, err = s.Client.UpdateRoute(ctx, &appmesh.UpdateRouteInput{MeshName: m, VirtualRouterName: aws.String(r.Parent), RouteName: n, Spec: &types.RouteSpec{}}, opt)
	case KindVirtualGateway:
		_, err = s.Client.UpdateVirtualGateway(ctx, &appmesh.UpdateVirtualGatewayInput{MeshName: m, VirtualGatewayName: n, Spec: &types.VirtualGatewaySpec{}}, opt)
	case KindGatewayRoute:
		_, err = s.Client.UpdateGatewayRoute(ctx, &appmesh.UpdateGatewayRouteInput{MeshName: m, VirtualGatewayName: aws.String(r.Parent), GatewayRouteName: n, Spec: &types.GatewayRouteSpec{}}, opt)
	default:
		err = fmt.Errorf("unknown kind %q", r.Kind)
	}
	return err
}
