package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
)

// API returns the appmesh REST-JSON service: every operation of the
// 2019-01-25 model, routed by method and path.
func (s *Service) API() *api.Service {
	svc := &api.Service{
		Name:        "appmesh",
		EventSource: "appmesh.amazonaws.com",
		Protocol:    api.RESTJSON,
		Operations:  map[string]api.Operation{},
		Errors:      errorTable,
	}
	add := func(method, path, op string, h api.Handler, readOnly bool) {
		svc.REST = append(svc.REST, api.RESTRoute{Method: method, Path: path, Operation: op})
		svc.Operations[op] = api.Operation{Handler: h, ReadOnly: readOnly}
	}
	for _, kind := range []Kind{KindMesh, KindVirtualNode, KindVirtualService, KindVirtualRouter, KindRoute, KindVirtualGateway, KindGatewayRoute} {
		coll, item := paths(kind)
		name := upper(kind)
		add(http.MethodPut, coll, "Create"+name, api.REST(s.createHandler(kind)), false)
		add(http.MethodGet, coll, "List"+plural(kind), api.REST(s.listHandler(kind)), true)
		add(http.MethodGet, item, "Describe"+name, api.REST(s.describeHandler(kind)), true)
		add(http.MethodPut, item, "Update"+name, api.REST(s.updateHandler(kind)), false)
		add(http.MethodDelete, item, "Delete"+name, api.REST(s.deleteHandler(kind)), false)
	}
	add(http.MethodPut, "/v20190125/tag", "TagResource", api.REST(s.tagResource), false)
	add(http.MethodPut, "/v20190125/untag", "UntagResource", api.REST(s.untagResource), false)
	add(http.MethodGet, "/v20190125/tags", "ListTagsForResource", api.REST(s.listTagsForResource), true)
	return svc
}

// paths returns the model's collection and item request URIs for kind.
func paths(kind Kind) (coll, item string) {
	const meshes = "/v20190125/meshes"
	switch kind {
	case KindMesh:
		return meshes, meshes + "/{meshName}"
	case KindRoute:
		coll = meshes + "/{meshName}/virtualRouter/{virtualRouterName}/routes"
	case KindGatewayRoute:
		coll = meshes + "/{meshName}/virtualGateway/{virtualGatewayName}/gatewayRoutes"
	default:
		coll = meshes + "/{meshName}/" + kind.String() + "s"
	}
	return coll, coll + "/{" + kind.String() + "Name}"
}

func plural(kind Kind) string {
	if kind == KindMesh {
		return "Meshes"
	}
	return upper(kind) + "s"
}

// resourceInput carries every member the resource operations take; which
// names apply depends on the kind. Path members overwrite body members of
// the same name.
type resourceInput struct {
	MeshName           string          `json:"meshName,omitempty" uri:"meshName"`
	VirtualNodeName    string          `json:"virtualNodeName,omitempty" uri:"virtualNodeName"`
	VirtualServiceName string          `json:"virtualServiceName,omitempty" uri:"virtualServiceName"`
	VirtualRouterName  string          `json:"virtualRouterName,omitempty" uri:"virtualRouterName"`
	RouteName          string          `json:"routeName,omitempty" uri:"routeName"`
	VirtualGatewayName string          `json:"virtualGatewayName,omitempty" uri:"virtualGatewayName"`
	GatewayRouteName   string          `json:"gatewayRouteName,omitempty" uri:"gatewayRouteName"`
	MeshOwner          string          `json:"meshOwner,omitempty" query:"meshOwner"`
	Limit              *int            `json:"limit,omitempty" query:"limit"`
	NextToken          string          `json:"nextToken,omitempty" query:"nextToken"`
	Spec               json.RawMessage `json:"spec,omitempty"`
	Tags               []Tag           `json:"tags,omitempty"`
	ClientToken        string          `json:"clientToken,omitempty"`
}

// key extracts the resource key for kind; a missing name is
// BadRequestException naming the member.
func (in *resourceInput) key(kind Kind, withName bool) (Key, error) {
	names := map[Kind]string{KindVirtualNode: in.VirtualNodeName, KindVirtualService: in.VirtualServiceName, KindVirtualRouter: in.VirtualRouterName, KindRoute: in.RouteName, KindVirtualGateway: in.VirtualGatewayName, KindGatewayRoute: in.GatewayRouteName}
	k := Key{Mesh: in.MeshName}
	if k.Mesh == "" {
		return k, fmt.Errorf("%w: meshName: is required", ErrBadRequest)
	}
	if info := kinds[kind]; info.hasParent {
		k.Parent = names[info.parent]
	}
	if withName && kind != KindMesh {
		k.Name = names[kind]
		if k.Name == "" {
			return k, fmt.Errorf("%w: %sName: is required", ErrBadRequest, kind)
		}
	}
	return k, nil
}

// Metadata is the appmesh ResourceMetadata shape.
type Metadata struct {
	Arn           string         `json:"arn"`
	CreatedAt     *awsproto.Time `json:"createdAt"`
	LastUpdatedAt *awsproto.Time `json:"lastUpdatedAt"`
	MeshOwner     string         `json:"meshOwner"`
	ResourceOwner string         `json:"resourceOwner"`
	UID           string         `json:"uid"`
	Version       int64          `json:"version"`
}

// Status is the resource status shape of every kind (MeshStatus,
// VirtualNodeStatus, …).
type Status struct {
	Status string `json:"status"`
}

// Names holds a resource's name members; only those of its kind are set.
type Names struct {
	MeshName           string `json:"meshName"`
	VirtualNodeName    string `json:"virtualNodeName,omitempty"`
	VirtualServiceName string `json:"virtualServiceName,omitempty"`
	VirtualRouterName  string `json:"virtualRouterName,omitempty"`
	RouteName          string `json:"routeName,omitempty"`
	VirtualGatewayName string `json:"virtualGatewayName,omitempty"`
	GatewayRouteName   string `json:"gatewayRouteName,omitempty"`
}

func names(kind Kind, k Key) Names {
	n := Names{MeshName: k.Mesh}
	set := func(kk Kind, v string) {
		switch kk {
		case KindVirtualNode:
			n.VirtualNodeName = v
		case KindVirtualService:
			n.VirtualServiceName = v
		case KindVirtualRouter:
			n.VirtualRouterName = v
		case KindRoute:
			n.RouteName = v
		case KindVirtualGateway:
			n.VirtualGatewayName = v
		case KindGatewayRoute:
			n.GatewayRouteName = v
		}
	}
	if info := kinds[kind]; info.hasParent {
		set(info.parent, k.Parent)
	}
	set(kind, k.Name)
	return n
}

// Data is the output payload of Create/Describe/Update/Delete of every
// kind (MeshData, VirtualNodeData, …).
type Data struct {
	Names
	Metadata Metadata        `json:"metadata"`
	Spec     json.RawMessage `json:"spec"`
	Status   Status          `json:"status"`
}

// Ref is a List* item (MeshRef, VirtualNodeRef, …).
type Ref struct {
	Names
	Arn           string         `json:"arn"`
	CreatedAt     *awsproto.Time `json:"createdAt"`
	LastUpdatedAt *awsproto.Time `json:"lastUpdatedAt"`
	MeshOwner     string         `json:"meshOwner"`
	ResourceOwner string         `json:"resourceOwner"`
	Version       int64          `json:"version"`
}

// ListOutput is a List* answer; Member is the model's list member name
// ("virtualNodes"), always present even when empty.
type ListOutput struct {
	Member    string
	Items     []Ref
	NextToken string
}

// MarshalJSON writes {"<member>": [...], "nextToken": "..."}.
func (o ListOutput) MarshalJSON() ([]byte, error) {
	m := map[string]any{o.Member: o.Items}
	if o.Items == nil {
		m[o.Member] = []Ref{}
	}
	if o.NextToken != "" {
		m["nextToken"] = o.NextToken
	}
	return json.Marshal(m)
}

func (s *Service) data(r *Resource, status string) *Data {
	return &Data{
		Names: names(r.Kind, r.Key),
		Metadata: Metadata{
			Arn: s.ARN(r.Kind, r.Key), CreatedAt: awsproto.NewTime(r.Created), LastUpdatedAt: awsproto.NewTime(r.Updated),
			MeshOwner: s.cfg.AccountID, ResourceOwner: s.cfg.AccountID, UID: r.UID, Version: r.Version,
		},
		Spec:   r.Spec,
		Status: Status{Status: status},
	}
}

// authorize asks for appmesh:<op> on arn, with the aws:RequestTag and
// aws:TagKeys condition keys when the request carries tags.
func authorize(ctx context.Context, c *api.Call, arn string, tags []Tag, tagKeys []string) error {
	var cond map[string][]string
	if len(tags) > 0 || len(tagKeys) > 0 {
		cond = map[string][]string{}
		for _, t := range tags {
			cond["aws:requesttag/"+strings.ToLower(t.Key)] = []string{t.Value}
			cond["aws:tagkeys"] = append(cond["aws:tagkeys"], t.Key)
		}
		cond["aws:tagkeys"] = append(cond["aws:tagkeys"], tagKeys...)
	}
	return c.Authorize(ctx, api.AuthzRequest{Action: "appmesh:" + c.Operation, Resource: arn, Mode: policy.Standard, Context: cond})
}

// checkOwner refuses a meshOwner other than this account: Bulwark does
// not share meshes across accounts, so such a mesh does not exist here.
func (s *Service) checkOwner(owner, mesh string) error {
	if owner == "" || owner == s.cfg.AccountID {
		return nil
	}
	if len(owner) != 12 {
		return fmt.Errorf("%w: meshOwner: must be a 12-digit account id", ErrBadRequest)
	}
	return fmt.Errorf("%w: Mesh %s owned by %s does not exist.", ErrNotFound, mesh, owner)
}

func (s *Service) createHandler(kind Kind) func(context.Context, *api.Call, *resourceInput) (*Data, error) {
	return func(ctx context.Context, c *api.Call, in *resourceInput) (*Data, error) {
		k, err := in.key(kind, true)
		if err != nil {
			return nil, err
		}
		if err := checkKey(kind, k); err != nil {
			return nil, err
		}
		if err := authorize(ctx, c, s.ARN(kind, k), in.Tags, nil); err != nil {
			return nil, err
		}
		if err := s.checkOwner(in.MeshOwner, k.Mesh); err != nil {
			return nil, err
		}
		res, err := s.Create(ctx, WriteRequest{Kind: kind, Key: k, Spec: in.Spec, Tags: in.Tags, ClientToken: in.ClientToken})
		if err != nil {
			return nil, err
		}
		return s.data(res, "ACTIVE"), nil
	}
}

// existing resolves, checks and authorizes the resource a Describe,
// Update or Delete names.
func (s *Service) existing(ctx context.Context, c *api.Call, in *resourceInput, kind Kind) (Key, error) {
	k, err := in.key(kind, true)
	if err != nil {
		return Key{}, err
	}
	if err := checkKey(kind, k); err != nil {
		return Key{}, err
	}
	if err := authorize(ctx, c, s.ARN(kind, k), nil, nil); err != nil {
		return Key{}, err
	}
	return k, s.checkOwner(in.MeshOwner, k.Mesh)
}

func (s *Service) describeHandler(kind Kind) func(context.Context, *api.Call, *resourceInput) (*Data, error) {
	return func(ctx context.Context, c *api.Call, in *resourceInput) (*Data, error) {
		k, err := s.existing(ctx, c, in, kind)
		if err != nil {
			return nil, err
		}
		res, err := s.Describe(ctx, kind, k)
		if err != nil {
			return nil, err
		}
		return s.data(res, "ACTIVE"), nil
	}
}

func (s *Service) updateHandler(kind Kind) func(context.Context, *api.Call, *resourceInput) (*Data, error) {
	return func(ctx context.Context, c *api.Call, in *resourceInput) (*Data, error) {
		k, err := s.existing(ctx, c, in, kind)
		if err != nil {
			return nil, err
		}
		res, err := s.Update(ctx, WriteRequest{Kind: kind, Key: k, Spec: in.Spec, ClientToken: in.ClientToken})
		if err != nil {
			return nil, err
		}
		return s.data(res, "ACTIVE"), nil
	}
}

func (s *Service) deleteHandler(kind Kind) func(context.Context, *api.Call, *resourceInput) (*Data, error) {
	return func(ctx context.Context, c *api.Call, in *resourceInput) (*Data, error) {
		k, err := s.existing(ctx, c, in, kind)
		if err != nil {
			return nil, err
		}
		res, err := s.Delete(ctx, kind, k)
		if err != nil {
			return nil, err
		}
		return s.data(res, "DELETED"), nil
	}
}

func (s *Service) listHandler(kind Kind) func(context.Context, *api.Call, *resourceInput) (*ListOutput, error) {
	member := strings.ToLower(plural(kind)[:1]) + plural(kind)[1:]
	return func(ctx context.Context, c *api.Call, in *resourceInput) (*ListOutput, error) {
		var parent Key
		arn := "*"
		if kind != KindMesh {
			var err error
			if parent, err = in.key(kind, false); err != nil {
				return nil, err
			}
			// The IAM resource of List<Kind>s is the container: the mesh,
			// or the router or gateway for routes and gateway routes.
			container, ck := KindMesh, Key{Mesh: parent.Mesh}
			if info := kinds[kind]; info.hasParent {
				if err := checkName(kinds[info.parent].seg+"Name", parent.Parent); err != nil {
					return nil, err
				}
				container, ck.Name = info.parent, parent.Parent
			}
			if err := checkKey(container, ck); err != nil {
				return nil, err
			}
			arn = s.ARN(container, ck)
		}
		if err := authorize(ctx, c, arn, nil, nil); err != nil {
			return nil, err
		}
		if err := s.checkOwner(in.MeshOwner, parent.Mesh); err != nil {
			return nil, err
		}
		limit, err := limitParam(in.Limit)
		if err != nil {
			return nil, err
		}
		page, err := s.List(ctx, kind, parent, limit, in.NextToken)
		if err != nil {
			return nil, err
		}
		out := &ListOutput{Member: member, Items: []Ref{}, NextToken: page.NextToken}
		for _, r := range page.Resources {
			d := s.data(r, "ACTIVE")
			out.Items = append(out.Items, Ref{Names: d.Names, Arn: d.Metadata.Arn, CreatedAt: d.Metadata.CreatedAt, LastUpdatedAt: d.Metadata.LastUpdatedAt,
				MeshOwner: d.Metadata.MeshOwner, ResourceOwner: d.Metadata.ResourceOwner, Version: d.Metadata.Version})
		}
		return out, nil
	}
}

// limitParam reads a List call's limit: absent is 0, the domain's default
// of 100; an explicit 0 is refused, since the domain cannot tell it from
// none.
func limitParam(limit *int) (int, error) {
	if limit == nil {
		return 0, nil
	}
	if *limit == 0 {
		return 0, fmt.Errorf("%w: limit: must be between 1 and 100", ErrBadRequest)
	}
	return *limit, nil
}

// tagInput is TagResourceInput, UntagResourceInput and
// ListTagsForResourceInput in one.
type tagInput struct {
	ResourceArn string   `json:"resourceArn,omitempty" query:"resourceArn"`
	Tags        []Tag    `json:"tags,omitempty"`
	TagKeys     []string `json:"tagKeys,omitempty"`
	Limit       *int     `json:"limit,omitempty" query:"limit"`
	NextToken   string   `json:"nextToken,omitempty" query:"nextToken"`
}

type empty struct{}

// TagsOutput is ListTagsForResourceOutput.
type TagsOutput struct {
	NextToken string `json:"nextToken,omitempty"`
	Tags      []Tag  `json:"tags"`
}

func (s *Service) resolveForTags(ctx context.Context, c *api.Call, in *tagInput, tags []Tag, keys []string) (Kind, Key, error) {
	if in.ResourceArn == "" {
		return 0, Key{}, fmt.Errorf("%w: resourceArn: is required", ErrBadRequest)
	}
	kind, k, err := s.Resolve(in.ResourceArn)
	if err != nil {
		return 0, Key{}, err
	}
	if err := authorize(ctx, c, in.ResourceArn, tags, keys); err != nil {
		return 0, Key{}, err
	}
	return kind, k, nil
}

func (s *Service) tagResource(ctx context.Context, c *api.Call, in *tagInput) (*empty, error) {
	if in.Tags == nil {
		return nil, fmt.Errorf("%w: tags: is required", ErrBadRequest)
	}
	kind, k, err := s.resolveForTags(ctx, c, in, in.Tags, nil)
	if err != nil {
		return nil, err
	}
	if err := s.TagResource(ctx, kind, k, in.Tags); err != nil {
		return nil, err
	}
	return &empty{}, nil
}

func (s *Service) untagResource(ctx context.Context, c *api.Call, in *tagInput) (*empty, error) {
	if in.TagKeys == nil {
		return nil, fmt.Errorf("%w: tagKeys: is required", ErrBadRequest)
	}
	kind, k, err := s.resolveForTags(ctx, c, in, nil, in.TagKeys)
	if err != nil {
		return nil, err
	}
	if err := s.UntagResource(ctx, kind, k, in.TagKeys); err != nil {
		return nil, err
	}
	return &empty{}, nil
}

func (s *Service) listTagsForResource(ctx context.Context, c *api.Call, in *tagInput) (*TagsOutput, error) {
	kind, k, err := s.resolveForTags(ctx, c, in, nil, nil)
	if err != nil {
		return nil, err
	}
	limit, err := limitParam(in.Limit)
	if err != nil {
		return nil, err
	}
	tags, next, err := s.ListTags(ctx, kind, k, limit, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &TagsOutput{Tags: tags, NextToken: next}, nil
}
