package xdsclient

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// unsupported is a field or value of a received resource the proxy does
// not enforce. It becomes the NACK's error detail.
type unsupported struct {
	path string
	what string
}

func (e *unsupported) Error() string {
	return fmt.Sprintf("%s: %s is not enforced by bulwark proxy", e.path, e.what)
}

func refuse(path, format string, args ...any) error {
	return &unsupported{path: path, what: fmt.Sprintf(format, args...)}
}

// onlyFields fails when m sets a field outside allowed: the decoder reads
// every field it allows (or checks its value), so any other field is a
// setting the proxy would silently ignore, and the configuration is
// refused instead. Unknown fields (a newer Envoy API) count as set.
func onlyFields(path string, m proto.Message, allowed ...string) error {
	if m == nil {
		return nil
	}
	ok := make(map[protoreflect.Name]bool, len(allowed))
	for _, a := range allowed {
		ok[protoreflect.Name(a)] = true
	}
	var extra []string
	r := m.ProtoReflect()
	if !r.IsValid() {
		return nil
	}
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !ok[fd.Name()] {
			extra = append(extra, string(fd.Name()))
		}
		return true
	})
	if len(r.GetUnknown()) > 0 {
		extra = append(extra, "fields unknown to this version")
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return refuse(path, "%s", strings.Join(extra, ", "))
}
