package xds

import (
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Bounds on what one stream may ask for. go-control-plane keeps a watch
// per type URL and the resource names of each for the life of the stream,
// so without them an authorized data plane could grow the server's memory
// without end (a new type URL, or a delta subscription a few thousand
// names larger, on every request).
const (
	// MaxResourceNames is the most resource names one type's request may
	// name (state of the world), or one delta stream may be subscribed to
	// per type (subscriptions add up across requests; unsubscribing makes
	// room). Envoy names one route configuration per listener port and one
	// secret per certificate or trust bundle, far below it.
	MaxResourceNames = 4096
	// MaxResourceNameBytes bounds the bytes of the names one request
	// carries (subscribed, unsubscribed and, in delta, the initial
	// resource versions' names and versions).
	MaxResourceNameBytes = 256 << 10
	// maxNACKMessage bounds the part of a NACK's error detail the server
	// keeps and logs: Envoy's messages are a line or a few, and a data
	// plane must not make the status API serve megabytes.
	maxNACKMessage = 4096
	// MaxNodeBytes bounds the node a request carries (id, cluster,
	// metadata, locality, user agent, extensions): the server keeps it for
	// the life of the stream. App Mesh's image sends well under 4 KiB.
	MaxNodeBytes = 64 << 10
)

// checkType refuses a type URL go-control-plane's caches cannot serve:
// its watch would never be answered, and never freed while the stream
// lives. The types known cover every xDS resource Envoy can ask for over
// ADS, whether this server sends any of it or not.
func checkType(typeURL string) error {
	if typeURL == "" {
		return status.Error(codes.InvalidArgument, "type URL is required for ADS")
	}
	if cachev3.GetResponseType(typeURL) == types.UnknownType {
		return status.Errorf(codes.InvalidArgument, "type URL %q is not an xDS resource type this server serves", truncate(typeURL, 256))
	}
	return nil
}

// checkNode refuses a node larger than MaxNodeBytes.
func checkNode(n *corev3.Node) error {
	if n == nil {
		return nil
	}
	if size := proto.Size(n); size > MaxNodeBytes {
		return status.Errorf(codes.InvalidArgument, "the request's node takes %d bytes; at most %d are accepted", size, MaxNodeBytes)
	}
	return nil
}

// checkNames refuses a request whose name lists pass the bounds.
func checkNames(lists ...[]string) error {
	count, size := 0, 0
	for _, l := range lists {
		count += len(l)
		for _, n := range l {
			size += len(n)
		}
	}
	if count > MaxResourceNames {
		return status.Errorf(codes.InvalidArgument, "the request names %d resources; at most %d are accepted", count, MaxResourceNames)
	}
	if size > MaxResourceNameBytes {
		return status.Errorf(codes.InvalidArgument, "the request's resource names take %d bytes; at most %d are accepted", size, MaxResourceNameBytes)
	}
	return nil
}

// deltaSubscription tracks the names one delta stream is subscribed to
// per type, to bound their number and bytes (go-control-plane adds each
// request's subscriptions to the last).
type deltaSubscription map[string]*subscribed

type subscribed struct {
	names map[string]struct{}
	bytes int
}

// apply adds and removes names for typeURL; it refuses (and changes
// nothing) when the type's subscriptions would pass MaxResourceNames
// names or MaxResourceNameBytes bytes.
func (d deltaSubscription) apply(typeURL string, subscribe, unsubscribe []string, initial map[string]string) error {
	set := d[typeURL]
	if set == nil {
		set = &subscribed{names: map[string]struct{}{}}
	}
	added := map[string]bool{}
	for _, n := range subscribe {
		if _, ok := set.names[n]; !ok {
			added[n] = true
		}
	}
	for n := range initial {
		if _, ok := set.names[n]; !ok {
			added[n] = true
		}
	}
	count, size := len(set.names), set.bytes
	for n := range added {
		count, size = count+1, size+len(n)
	}
	removed := map[string]bool{}
	for _, n := range unsubscribe {
		if _, ok := set.names[n]; ok && !removed[n] {
			removed[n] = true
			count, size = count-1, size-len(n)
		}
	}
	if count > MaxResourceNames || size > MaxResourceNameBytes {
		return status.Errorf(codes.InvalidArgument, "the stream would be subscribed to more than %d resources or %d bytes of names of type %s; unsubscribe from some first", MaxResourceNames, MaxResourceNameBytes, shortType(typeURL))
	}
	for n := range removed {
		delete(set.names, n)
	}
	for n := range added {
		set.names[n] = struct{}{}
	}
	set.bytes = size
	d[typeURL] = set
	return nil
}

// initialNames lists a delta request's initial resource versions, names
// and versions, for checkNames.
func initialNames(m map[string]string) []string {
	out := make([]string, 0, 2*len(m))
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
