package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
)

// restTable finds REST-JSON operations by method and path. Patterns are
// split into segments once; matching walks the candidates, which is fast
// enough for the few dozen routes a service has.
type restTable struct {
	routes []restEntry
}

type restEntry struct {
	service  *api.Service
	method   string
	segments []string // literal, or "{name}" capture
	op       string
}

func (t *restTable) add(svc *api.Service) {
	for _, r := range svc.REST {
		t.routes = append(t.routes, restEntry{service: svc, method: r.Method, segments: splitPath(r.Path), op: r.Operation})
	}
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match returns the service, operation and path captures for r, or a nil
// service. methodMismatch reports that the path exists with another
// method.
func (t *restTable) match(r *http.Request) (svc *api.Service, op string, params map[string]string, methodMismatch bool) {
	segs := splitPath(r.URL.EscapedPath())
	for _, e := range t.routes {
		if len(e.segments) != len(segs) {
			continue
		}
		var captured map[string]string
		ok := true
		for i, pat := range e.segments {
			if strings.HasPrefix(pat, "{") && strings.HasSuffix(pat, "}") {
				v, err := url.PathUnescape(segs[i])
				if err != nil || v == "" {
					ok = false
					break
				}
				if captured == nil {
					captured = map[string]string{}
				}
				captured[pat[1:len(pat)-1]] = v
				continue
			}
			if pat != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if e.method != r.Method {
			methodMismatch = true
			continue
		}
		return e.service, e.op, captured, false
	}
	return nil, "", nil, methodMismatch
}
