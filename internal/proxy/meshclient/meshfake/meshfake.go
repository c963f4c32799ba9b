package meshfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
)

// Server is an appmesh REST-JSON endpoint holding one mesh, answering
// the Describe and List operations in the model's JSON shapes. It keeps
// specs as given (no validation) and counts Describe calls.
type Server struct {
	mesh      string
	mu        sync.Mutex
	res       map[string]*fakeRes // "kind/parent/name"
	describes atomic.Int64
	srv       *httptest.Server
}

type fakeRes struct {
	kind, parent, name string
	version            int64
	spec               json.RawMessage
}

// kinds: URL collection segment → (data name member, parent member,
// parent collection segment).
var kinds = map[string]struct{ nameKey, parentKey, listKey string }{
	"virtualNodes":    {"virtualNodeName", "", "virtualNodes"},
	"virtualServices": {"virtualServiceName", "", "virtualServices"},
	"virtualRouters":  {"virtualRouterName", "", "virtualRouters"},
	"virtualGateways": {"virtualGatewayName", "", "virtualGateways"},
	"routes":          {"routeName", "virtualRouterName", "routes"},
	"gatewayRoutes":   {"gatewayRouteName", "virtualGatewayName", "gatewayRoutes"},
}

// New starts a Server for mesh, stopped when the test ends.
func New(t testing.TB, mesh string) *Server {
	f := &Server{mesh: mesh, res: map[string]*fakeRes{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// Put creates or updates a resource (version 1, then +1 per update).
// kind is the URL collection: virtualNodes, virtualServices,
// virtualRouters, virtualGateways, routes (parent: the router) or
// gatewayRoutes (parent: the gateway); spec is the spec member's JSON.
func (f *Server) Put(kind, parent, name, spec string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := kind + "/" + parent + "/" + name
	r, ok := f.res[k]
	if !ok {
		r = &fakeRes{kind: kind, parent: parent, name: name}
		f.res[k] = r
	}
	r.version++
	r.spec = json.RawMessage(spec)
}

// URL is the endpoint.
func (f *Server) URL() string { return f.srv.URL }

// Describes counts the Describe calls answered so far.
func (f *Server) Describes() int64 { return f.describes.Load() }

// Client returns an appmesh client pointed at the server.
func (f *Server) Client() *appmesh.Client {
	return appmesh.NewFromConfig(aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(f.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
}

func (f *Server) data(r *fakeRes) map[string]any {
	k := kinds[r.kind]
	d := map[string]any{
		"meshName": f.mesh, k.nameKey: r.name,
		"metadata": map[string]any{"arn": "arn:aws:appmesh:us-east-1:111122223333:mesh/" + f.mesh + "/" + r.name, "createdAt": 1.7e9, "lastUpdatedAt": 1.7e9,
			"meshOwner": "111122223333", "resourceOwner": "111122223333", "uid": "u-" + r.name, "version": r.version},
		"spec": r.spec, "status": map[string]any{"status": "ACTIVE"},
	}
	if k.parentKey != "" {
		d[k.parentKey] = r.parent
	}
	return d
}

func (f *Server) ref(r *fakeRes) map[string]any {
	k := kinds[r.kind]
	d := map[string]any{"meshName": f.mesh, k.nameKey: r.name, "version": r.version, "arn": "arn:x", "createdAt": 1.7e9, "lastUpdatedAt": 1.7e9,
		"meshOwner": "111122223333", "resourceOwner": "111122223333"}
	if k.parentKey != "" {
		d[k.parentKey] = r.parent
	}
	return d
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	notFound := func() {
		w.Header().Set("X-Amzn-ErrorType", "NotFoundException")
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"message":"not found"}`))
	}
	if len(parts) < 3 || parts[0] != "v20190125" || parts[1] != "meshes" || parts[2] != f.mesh || r.Method != "GET" {
		notFound()
		return
	}
	parts = parts[3:]
	var out any
	switch len(parts) {
	case 0: // DescribeMesh
		out = map[string]any{"meshName": f.mesh, "metadata": map[string]any{"version": 1}, "spec": map[string]any{}, "status": map[string]any{"status": "ACTIVE"}}
	case 1: // List top-level
		out = f.list(parts[0], "")
	case 2: // Describe top-level
		res, ok := f.res[parts[0]+"//"+parts[1]]
		if !ok {
			notFound()
			return
		}
		f.describes.Add(1)
		out = f.data(res)
	case 3: // List children: virtualRouter/{vr}/routes
		out = f.list(parts[2], parts[1])
	case 4:
		res, ok := f.res[parts[2]+"/"+parts[1]+"/"+parts[3]]
		if !ok {
			notFound()
			return
		}
		f.describes.Add(1)
		out = f.data(res)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *Server) list(kind, parent string) any {
	refs := []map[string]any{}
	var keys []string
	for k, r := range f.res {
		if r.kind == kind && r.parent == parent {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		refs = append(refs, f.ref(f.res[k]))
	}
	return map[string]any{kinds[kind].listKey: refs}
}
