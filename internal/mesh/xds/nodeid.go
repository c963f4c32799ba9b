package xds

import (
	"fmt"
	"strings"
)

// Resource kinds a data plane can run as, spelled as in ARNs.
const (
	KindVirtualNode    = "virtualNode"
	KindVirtualGateway = "virtualGateway"
)

// NodeRef is the App Mesh resource a data plane identifies itself as.
type NodeRef struct {
	// ARN is the resource's ARN in the server's account and region.
	ARN  string
	Mesh string
	// Kind is KindVirtualNode or KindVirtualGateway.
	Kind string
	Name string
}

// maxNodeID bounds what ParseNodeID looks at: an App Mesh ARN is well
// under 512 bytes, so anything longer is not one.
const maxNodeID = 1024

// ParseNodeID reads the Envoy node id the way App Mesh's Envoy image sets
// it: APPMESH_RESOURCE_ARN verbatim
// ("arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>",
// also virtualGateway), or the older APPMESH_VIRTUAL_NODE_NAME /
// APPMESH_RESOURCE_NAME form "mesh/<mesh>/virtualNode/<name>", which names
// a resource of this server's account and region. An ARN of another
// account or region, another service, or any other shape is refused: this
// server holds only its own account's meshes.
func ParseNodeID(id, region, account string) (NodeRef, error) {
	if id == "" {
		return NodeRef{}, fmt.Errorf("the node id is empty: set it to the virtual node or virtual gateway ARN (APPMESH_RESOURCE_ARN)")
	}
	if len(id) > maxNodeID {
		return NodeRef{}, fmt.Errorf("the node id is longer than %d bytes, so it is not an App Mesh ARN", maxNodeID)
	}
	rest := id
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || parts[1] != "aws" || parts[2] != "appmesh" {
			return NodeRef{}, fmt.Errorf("node id %q is not an App Mesh ARN", id)
		}
		if parts[3] != region || parts[4] != account {
			return NodeRef{}, fmt.Errorf("node id %q names region %q and account %q; this server holds the meshes of %s in %s", id, parts[3], parts[4], account, region)
		}
		rest = parts[5]
	}
	p := strings.Split(rest, "/")
	if len(p) != 4 || p[0] != "mesh" || (p[2] != KindVirtualNode && p[2] != KindVirtualGateway) {
		return NodeRef{}, fmt.Errorf("node id %q is not mesh/<mesh>/virtualNode/<name> or mesh/<mesh>/virtualGateway/<name> (or its ARN)", id)
	}
	for _, s := range []string{p[1], p[3]} {
		if s == "" || len(s) > 255 || strings.ContainsAny(s, ":\x00") {
			return NodeRef{}, fmt.Errorf("node id %q has an invalid mesh or resource name", id)
		}
	}
	return NodeRef{
		ARN:  fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/%s/%s/%s", region, account, p[1], p[2], p[3]),
		Mesh: p[1], Kind: p[2], Name: p[3],
	}, nil
}
