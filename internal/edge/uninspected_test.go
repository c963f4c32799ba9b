package edge_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/edge"
	"github.com/bulwarkd/bulwark/internal/fle"
)

// TestPassUninspectedUnder: the escape hatch streams bodies no rule
// covers under its prefixes (over the body limit, binary, upgrades), and
// only there: not for another case, a dot-segment path leaving the
// prefix or a sibling name; not for a path a rule covers; and never
// around the query, header and cookie checks.
func TestPassUninspectedUnder(t *testing.T) {
	t.Parallel()
	keys := rsaKeys(t)
	o := newRawOrigin(t)
	eng, err := fle.New(fle.Config{Rules: []fle.Rule{peopleDiffRule(),
		{Name: "secure", PathPrefix: "/uploads/secure", Fields: fle.Fields("ssn"), KeyID: "01"}}, Keys: keys, BodyLimit: 64})
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := url.Parse(o.URL)
	if _, err := edge.New(edge.Config{Engine: eng, Origin: origin, PassUninspectedUnder: []string{"/uploads/../people"}}); err == nil {
		t.Fatal("a prefix with dot segments was accepted")
	}
	p, err := edge.New(edge.Config{Engine: eng, Origin: origin, PassUninspectedUnder: []string{"/uploads/"}})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(p)
	t.Cleanup(s.Close)
	big := strings.Repeat("x", 100)
	binary := "\x89PNG\x00\x01\x02"
	tests := []struct {
		name, method, target, ct, body string
		header                         [][2]string
		want                           int
	}{
		{"binary under the prefix", "PUT", "/uploads/a.png", "image/png", binary, nil, 200},
		{"over the limit under the prefix", "POST", "/uploads/big", "text/plain", big, nil, 200},
		{"the prefix itself", "POST", "/uploads", "image/png", binary, nil, 200},
		{"websocket under the prefix", "GET", "/uploads/ws", "", "", [][2]string{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, 200},
		{"binary elsewhere", "PUT", "/files/a.png", "image/png", binary, nil, 415},
		{"over the limit elsewhere", "POST", "/files/big", "text/plain", big, nil, 413},
		{"dot segments leaving the prefix", "PUT", "/uploads/../files/a.png", "image/png", binary, nil, 415},
		{"encoded dot segments leaving the prefix", "PUT", "/uploads/%2e%2e/files", "image/png", binary, nil, 415},
		{"other case", "PUT", "/UPLOADS/a.png", "image/png", binary, nil, 415},
		{"sibling name", "PUT", "/uploadsx/a.png", "image/png", binary, nil, 415},
		{"a rule covers it", "POST", "/uploads/secure/1", "application/json", `{"ssn":"` + marker + `"}`, nil, 200},
		{"a rule covers it, binary", "POST", "/uploads/secure/1", "image/png", binary, nil, 415},
		{"protected query under the prefix", "PUT", "/uploads/a?ssn=" + marker, "image/png", binary, nil, 400},
		{"protected cookie under the prefix", "PUT", "/uploads/a", "image/png", binary, [][2]string{{"Cookie", "ssn=" + marker}}, 400},
	}
	for _, tc := range tests {
		o.mu.Lock()
		o.raw.Reset()
		o.mu.Unlock()
		req, _ := http.NewRequest(tc.method, s.URL+"/", strings.NewReader(tc.body))
		u, _ := url.ParseRequestURI(tc.target)
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		for _, kv := range tc.header {
			req.Header.Add(kv[0], kv[1])
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		raw, _ := o.snapshot()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if bytes.Contains(raw, []byte(marker)) {
			t.Errorf("%s: the origin received the marker", tc.name)
		}
		if tc.want != 200 && len(raw) != 0 {
			t.Errorf("%s: a refused request reached the origin", tc.name)
		}
	}
}
