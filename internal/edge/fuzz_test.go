package edge_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkd/bulwark/internal/edge"
	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// fuzzEnc makes cheap tokens: the seed's format with the value hidden.
type fuzzEnc struct{}

func (fuzzEnc) KeyID() string        { return "01" }
func (fuzzEnc) Format() token.Format { return token.FormatRSA }
func (fuzzEnc) MaxPlaintext() int    { return 0 }
func (fuzzEnc) Encrypt(p []byte, _ string) (string, error) {
	return "#01#" + strings.Repeat("A", 4+len(p)%4) + "==#10#", nil
}

// captureTransport is the origin: it keeps the requests the edge
// forwards, bodies read.
type captureTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.body = append(c.body, b)
	c.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

// FuzzEdgeRequest drives a real Proxy with requests parsed by net/http's
// own request parser from fuzzed methods, request targets (origin-form,
// absolute-form, "*"), header lines and bodies, under the review's
// people rule alone (most requests fall outside every rule) and with the
// flags-only rule behind it. Whatever the edge forwards, a Go origin
// reading ssn from the query, a header, a cookie, or the body as a form,
// JSON or XML must never get the marker; a refusal forwards nothing.
func FuzzEdgeRequest(f *testing.F) {
	m := marker
	for _, s := range []struct{ method, target, headers, body string }{
		{"POST", "/people", "Content-Type: application/json", `{"ssn":"` + m + `"}`},
		{"PATCH", "//People/../people?SSN=" + m, "Content-Type: application/json", `[{"SSN":"` + m + `"}]`},
		{"POST", "http://edge.test/other", "Content-Type: application/json", `{"ssn":"` + m + `"}`},
		{"GET", "/other", "Cookie: a=1; ssn=" + m, ""},
		{"GET", "/other", "X-Ssn: " + m + "\nX_SSN: " + m, ""},
		{"POST", "/other", "Content-Type: text/plain", "ssn=" + m},
		{"POST", "/people", "Content-Type: application/json\nContent-Type: application/x-www-form-urlencoded", `{"a":"&ssn=` + m + `"}`},
		{"OPTIONS", "*", "Content-Type: application/json", `{"ssn":"` + m + `"}`},
		{"PUT", "/other", "Content-Type: application/xml", `<r ssn="` + m + `"/>`},
		{"GET", "/ws", "Connection: Upgrade\nUpgrade: websocket", ""},
	} {
		f.Add(s.method, s.target, s.headers, []byte(s.body))
	}
	people := fle.Rule{Name: "people", Methods: []string{"POST", "PUT"}, PathPrefix: "/people", ContentTypes: []string{"application/json"},
		Fields: fle.Fields("ssn"), Query: fle.Fields("ssn"), KeyID: "01"}
	flags, err := edge.FlagRule([]string{"ssn", "email"}, "01", "", nil)
	if err != nil {
		f.Fatal(err)
	}
	type proxy struct {
		p  *edge.Proxy
		tr *captureTransport
	}
	var proxies []proxy
	for _, rules := range [][]fle.Rule{{people}, {people, flags}} {
		eng, err := fle.New(fle.Config{Rules: rules, Keys: fle.StaticKeys{"01": fuzzEnc{}}, BodyLimit: 1 << 16})
		if err != nil {
			f.Fatal(err)
		}
		tr := &captureTransport{}
		p, err := edge.New(edge.Config{Engine: eng, Origin: &url.URL{Scheme: "http", Host: "origin.test"}, Transport: tr})
		if err != nil {
			f.Fatal(err)
		}
		proxies = append(proxies, proxy{p, tr})
	}
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte) {
		if strings.ContainsAny(method+target, " \r\n") || strings.ContainsAny(headers, "\r") {
			return
		}
		raw := method + " " + target + " HTTP/1.1\r\nHost: edge.test\r\n"
		for _, l := range strings.Split(headers, "\n") {
			if l != "" {
				raw += l + "\r\n"
			}
		}
		raw += "Content-Length: " + itoa(len(body)) + "\r\n\r\n" + string(body)
		for _, px := range proxies {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				return
			}
			req.RemoteAddr = "192.0.2.1:1234"
			px.tr.mu.Lock()
			px.tr.reqs, px.tr.body = nil, nil
			px.tr.mu.Unlock()
			rec := httptest.NewRecorder()
			px.p.ServeHTTP(rec, req)
			px.tr.mu.Lock()
			reqs, bodies := px.tr.reqs, px.tr.body
			px.tr.mu.Unlock()
			if rec.Code >= 400 && len(reqs) > 0 {
				t.Fatalf("refused with %d but forwarded", rec.Code)
			}
			for i, r := range reqs {
				for _, v := range originSSN(r, bodies[i]) {
					if strings.Contains(v, m) {
						t.Fatalf("origin binds ssn = %q from %q", v, raw)
					}
				}
			}
		}
	})
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// originSSN is what an origin binding a parameter ssn may read from a
// forwarded request: query, headers (Ssn, X-Ssn, X_Ssn), cookies, and the
// body as a form, JSON (any case) or XML, whatever its Content-Type.
func originSSN(r *http.Request, body []byte) []string {
	var out []string
	for k, vs := range r.URL.Query() {
		if strings.EqualFold(k, "ssn") {
			out = append(out, vs...)
		}
	}
	for k, vs := range r.Header {
		if n := strings.ToLower(strings.ReplaceAll(k, "_", "-")); n == "ssn" || n == "x-ssn" {
			out = append(out, vs...)
		}
	}
	for _, c := range r.Cookies() {
		if strings.EqualFold(c.Name, "ssn") {
			out = append(out, c.Value)
		}
	}
	if q, err := url.ParseQuery(string(body)); err == nil {
		for k, vs := range q {
			if strings.EqualFold(k, "ssn") {
				out = append(out, vs...)
			}
		}
	}
	var js struct {
		SSN string `json:"ssn"`
	}
	if json.Unmarshal(bytes.TrimPrefix(body, []byte("\ufeff")), &js) == nil {
		out = append(out, js.SSN)
	}
	var xs struct {
		SSN  string `xml:"ssn"`
		Attr string `xml:"ssn,attr"`
	}
	if xml.Unmarshal(body, &xs) == nil {
		out = append(out, xs.SSN, xs.Attr)
	}
	return out
}
