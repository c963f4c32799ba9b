package fle

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/fle/jsonrw"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

func TestPathForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw       string
		want      string // one of the forms
		ambiguous bool
	}{
		{"/people", "/people", false},
		{"//people", "/people", false},
		{"/./people", "/people", false},
		{"/x/../people", "/people", false},
		{"/../../people", "/people", false},
		{"/%2e/people", "/people", false},
		{"/%2E%2E/people", "/people", false},
		{"/%252e/people", "/people", false},
		{"/a;x/../people", "/people", false},
		{"/..;/people", "/people", false},
		{"/people;jsessionid=1", "/people", false},
		{"/people./", "/people/", false},
		{"/%70eople", "/people", false},
		{"", "/", false},
		{"*", "*", false},
		{"/a%2Fb", "", true},
		{"/a%2fb", "", true},
		{"/a%5cb", "", true},
		{"/a\\b", "", true},
		{"/a%00", "", true},
		{"/a%0d%0a", "", true},
		{"/a%252Fb", "", true},
		{"/%25252525/x", "", true},
		{"/%u002e/people", "", true},
		{"/%c0%ae/people", "", true},
		{"/%C1%9C/people", "", true},
		{"/caf%C3%A9", "/café", false},
	}
	for _, tc := range tests {
		forms, err := PathForms(tc.raw)
		if tc.ambiguous {
			if !errors.Is(err, ErrAmbiguousPath) {
				t.Errorf("PathForms(%q) = %q, %v; want ambiguous", tc.raw, forms, err)
			}
			continue
		}
		if err != nil || !contains(forms, tc.want) {
			t.Errorf("PathForms(%q) = %q, %v; want a form %q", tc.raw, forms, err, tc.want)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestRoute(t *testing.T) {
	t.Parallel()
	people := Rule{Name: "people", Methods: []string{"POST", "PUT"}, PathPrefix: "/people", ContentTypes: []string{"application/json"},
		Fields: Fields("ssn"), Query: Fields("ssn"), KeyID: "01"}
	exact := Rule{Name: "exact", PathExact: "/v1/Card", PathCaseSensitive: true, Fields: Fields("pan"), KeyID: "01"}
	regex := Rule{Name: "regex", PathRegex: `^/v[0-9]+/accounts$`, Fields: Fields("iban"), KeyID: "01"}
	e := newEngine(t, people, exact, regex)
	tests := []struct {
		name string
		t    Target
		want Action
		rule string
		kind ErrorKind
	}{
		{"full match", Target{Method: "POST", Path: "/people", ContentType: "application/json", HasBody: true}, ActionProtect, "people", ""},
		{"case variant", Target{Method: "PUT", Path: "/PeOpLe/7", ContentType: "application/json", HasBody: true}, ActionProtect, "people", ""},
		{"dot segments", Target{Method: "POST", Path: "/api/v1/../../people", ContentType: "application/json", HasBody: true}, ActionProtect, "people", ""},
		{"other method with body", Target{Method: "PATCH", Path: "/people", ContentType: "application/json", HasBody: true}, ActionProtect, "people", ""},
		{"other method with query", Target{Method: "GET", Path: "/people", RawQuery: "ssn=1"}, ActionProtect, "people", ""},
		{"other method bare", Target{Method: "GET", Path: "/people"}, ActionPass, "", ""},
		{"other type with body", Target{Method: "POST", Path: "/people", ContentType: "text/plain", HasBody: true}, ActionRefuse, "people", KindUnsupported},
		{"encoded slash", Target{Method: "POST", Path: "/x%2F..%2Fpeople", ContentType: "application/json", HasBody: true}, ActionRefuse, "", KindAmbiguousPath},
		{"protected query name outside rules", Target{Method: "GET", Path: "/other", RawQuery: "a=1&user[SSN]=1"}, ActionRefuse, "", KindOutsideRule},
		{"body field name in query outside rules", Target{Method: "GET", Path: "/other", RawQuery: "pan=1"}, ActionRefuse, "", KindOutsideRule},
		{"harmless query outside rules", Target{Method: "GET", Path: "/other", RawQuery: "page=2"}, ActionPass, "", ""},
		{"case-sensitive exact rule", Target{Method: "POST", Path: "/v1/card", ContentType: "application/json", HasBody: true}, ActionScan, "", ""},
		{"body outside rules", Target{Method: "PATCH", Path: "/other", HasBody: true}, ActionScan, "", ""},
		{"cookie named like a field", Target{Method: "GET", Path: "/people", Header: http.Header{"Cookie": {"a=1; SSN=1"}}}, ActionRefuse, "", KindProtectedHeader},
		{"header named like a field", Target{Method: "GET", Path: "/other", Header: http.Header{"X-Pan": {"1"}}}, ActionRefuse, "", KindProtectedHeader},
		{"repeated content type", Target{Method: "POST", Path: "/people", Header: http.Header{"Content-Type": {"application/json", "text/plain"}}}, ActionRefuse, "", KindAmbiguousHeader},
		{"case-sensitive exact rule, dot form", Target{Method: "POST", Path: "/v1/./Card/", ContentType: "application/json", HasBody: true}, ActionProtect, "exact", ""},
		{"exact rule with suffix", Target{Method: "POST", Path: "/v1/Card.json", ContentType: "application/json", HasBody: true}, ActionProtect, "exact", ""},
		{"regex rule folded", Target{Method: "POST", Path: "//V2/Accounts", ContentType: "application/json", HasBody: true}, ActionProtect, "regex", ""},
	}
	for _, tc := range tests {
		rt := e.Route(tc.t)
		var fe *Error
		errors.As(rt.Err, &fe)
		kind := ErrorKind("")
		if fe != nil {
			kind = fe.Kind
		}
		if rt.Action != tc.want || rt.Rule.Name != tc.rule || kind != tc.kind {
			t.Errorf("%s: Route = %v %q %v; want %v %q %s", tc.name, rt.Action, rt.Rule.Name, rt.Err, tc.want, tc.rule, tc.kind)
		}
	}
}

func TestFormPaths(t *testing.T) {
	t.Parallel()
	sel, _ := jsonrw.ParseSelector("ssn")
	deep, _ := jsonrw.ParseSelector("$.user.ssn")
	f := compiledField{json: &sel}
	d := compiledField{json: &deep}
	for _, name := range []string{"ssn", "SSN", "ssn[]", "ssn[0]", "user[ssn]", "user.ssn", "user[0][Ssn]", "ssn ", " ssn", "ssn\x00", "ssn\x00x", "a.b[ssn][c]", "[ssn]"} {
		if !f.selectsName(formPaths(name)) {
			t.Errorf("ssn does not select %q", name)
		}
	}
	for _, name := range []string{"ssnx", "xssn", "ss n", "user[ssnx]", ""} {
		if f.selectsName(formPaths(name)) {
			t.Errorf("ssn selects %q", name)
		}
	}
	for _, name := range []string{"user[ssn]", "user.ssn", "USER[SSN]", "user[ssn][]"} {
		if !d.selectsName(formPaths(name)) {
			t.Errorf("$.user.ssn does not select %q", name)
		}
	}
	if d.selectsName(formPaths("ssn")) {
		t.Error("$.user.ssn selects ssn")
	}
}

// fakeEnc makes cheap tokens for fuzzing: the format of the seed with the
// value hidden.
type fakeEnc struct{}

func (fakeEnc) KeyID() string        { return "01" }
func (fakeEnc) Format() token.Format { return token.FormatRSA }
func (fakeEnc) MaxPlaintext() int    { return 0 }
func (fakeEnc) Encrypt(p []byte, _ string) (string, error) {
	return "#01#" + strings.Repeat("A", 4+len(p)%4) + "==#10#", nil
}

// fuzzMarker is the protected value in fuzzed requests.
const fuzzMarker = "Mk7Qz9Xv4Lp"

// goOriginValues decodes a request the way Go handlers do, whatever its
// Content-Type says: r.FormValue (query, urlencoded and multipart forms,
// parts holding JSON), encoding/json and encoding/xml into structs tagged
// ssn. It returns every value they bind to ssn.
func goOriginValues(method, target, ct string, body []byte) []string {
	type js struct {
		SSN  string `json:"ssn"`
		User struct {
			SSN string `json:"ssn"`
		} `json:"user"`
		Variables struct {
			SSN   string `json:"ssn"`
			Input struct {
				SSN string `json:"ssn"`
			} `json:"input"`
		} `json:"variables"`
	}
	type xs struct {
		SSN  string `xml:"ssn"`
		Attr string `xml:"ssn,attr"`
	}
	fromJSON := func(b []byte) []string {
		var v js
		if json.Unmarshal(b, &v) != nil {
			var arr []js
			if json.Unmarshal(b, &arr) != nil || len(arr) == 0 {
				return nil
			}
			v = arr[0]
		}
		return []string{v.SSN, v.User.SSN, v.Variables.SSN, v.Variables.Input.SSN}
	}
	var out []string
	r, err := http.NewRequest(method, "http://origin"+target, bytes.NewReader(body))
	if err != nil {
		return nil
	}
	r.Header.Set("Content-Type", ct)
	out = append(out, r.FormValue("ssn"), r.FormValue("user[ssn]"), r.FormValue("user.ssn"))
	out = append(out, r.URL.Query()["ssn"]...)
	out = append(out, fromJSON(body)...)
	var x xs
	if xml.Unmarshal(body, &x) == nil {
		out = append(out, x.SSN, x.Attr)
	}
	if mt, params, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "ssn" {
				out = append(out, string(b))
			}
			out = append(out, fromJSON(b)...)
			if q, err := url.ParseQuery(string(b)); err == nil {
				out = append(out, q["ssn"]...)
			}
		}
	}
	return out
}

// FuzzProtectGoOriginAgrees drives the whole engine with fuzzed methods,
// paths, queries, header lines, content types and bodies (nested parts
// included), under a path-scoped rule with the flags-only rule behind it
// and under the path-scoped rule alone (so most requests fall outside
// every rule and are scanned), and decodes what would be forwarded the way
// a Go origin does: when Protect succeeds, no decoder (body, query,
// headers, cookies) may bind the marker to ssn.
func FuzzProtectGoOriginAgrees(f *testing.F) {
	m := fuzzMarker
	seeds := []struct{ method, path, query, header, ct, body string }{
		{"POST", "/people", "", "", "application/json", `{"ssn":"` + m + `"}`},
		{"PATCH", "//People/../people", "SSN=" + m, "", "application/json", `[{"SSN":"` + m + `"}]`},
		{"GET", "/%2e/people", "user[ssn]=" + m, "", "", ""},
		{"POST", "/f", "", "", "application/x-www-form-urlencoded", "a=1;ssn=" + m},
		{"POST", "/f", "", "", "application/x-www-form-urlencoded", "user[ssn]=" + m + "&ssn[]=" + m},
		{"PUT", "/g", "", "", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"variables\":{\"input\":{\"ssn\":\"" + m + "\"}}}\r\n--B--\r\n"},
		{"POST", "/g", "", "", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.json\"\r\nContent-Type: application/json\r\n\r\n{\"ssn\":\"" + m + "\"}\r\n--B--\r\n"},
		{"POST", "/g", "", "", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nx=1&ssn=" + m + "\r\n--B--\r\n"},
		{"POST", "/g", "", "", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"x\"; name=\"ssn\"\r\n\r\n" + m + "\r\n--B--\r\n"},
		{"POST", "/x", "", "", "application/xml", `<r ssn="` + m + `"><SSN>` + m + `</SSN></r>`},
		{"POST", "/j", "", "", "application/json", `{"ssn\u0000":"` + m + `","variables":"{\"ssn\":\"` + m + `\"}"}`},
		{"GET", "/other", "", "Cookie: a=1; ssn=" + m, "", ""},
		{"DELETE", "/other", "", "X-Ssn: " + m + "\nX_SSN: " + m, "text/plain", `{"\u0073sn":"` + m + `"}`},
		{"OPTIONS", "*", "", "Content-Type: application/x-www-form-urlencoded", "application/json", `{"a":"&ssn=` + m + `"}`},
		{"PROPFIND", "/other", "", "", "application/octet-stream", "%73sn=" + m},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.header, s.ct, []byte(s.body))
	}
	people := Rule{Name: "people", Methods: []string{"POST", "PUT"}, PathPrefix: "/people", ContentTypes: []string{"application/json"},
		Fields: Fields("ssn"), Query: Fields("ssn"), KeyID: "01"}
	flags := Rule{Name: "flags", Fields: Fields("ssn", "email"), Query: Fields("ssn", "email"), KeyID: "01"}
	var engines []*Engine
	for _, rules := range [][]Rule{{people, flags}, {people}} {
		e, err := New(Config{Rules: rules, Keys: StaticKeys{"01": fakeEnc{}}})
		if err != nil {
			f.Fatal(err)
		}
		engines = append(engines, e)
	}
	f.Fuzz(func(t *testing.T, method, p, query, header, ct string, body []byte) {
		if !validMethod(method) || !(strings.HasPrefix(p, "/") || p == "*") || strings.ContainsAny(p+query, " ?#\r\n\x00") {
			return
		}
		h := http.Header{}
		for _, line := range strings.Split(header, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && k != "" && !strings.ContainsAny(k, " \t\r\x00") {
				h[k] = append(h[k], strings.TrimSpace(v))
			}
		}
		if ct != "" {
			h["Content-Type"] = append([]string{ct}, h["Content-Type"]...)
		}
		for _, e := range engines {
			res, err := e.Protect(context.Background(), Request{Method: method, Path: p, RawQuery: query, ContentType: ct, Header: h, Body: bytes.NewReader(body)})
			if err != nil {
				var fe *Error
				if !errors.As(err, &fe) || fe.Kind.HTTPStatus() < 400 {
					t.Fatalf("error %v is not a refusal", err)
				}
				continue
			}
			target := p
			if res.RawQuery != "" {
				target += "?" + res.RawQuery
			}
			vals := goOriginValues(method, target, ct, res.Body)
			vals = append(vals, goOriginHeaderValues(h)...)
			for _, v := range vals {
				if strings.Contains(v, m) {
					t.Fatalf("a Go origin binds ssn = %q from %s %s (%s) %q %q", v, method, target, ct, h, res.Body)
				}
			}
		}
	})
}

// goOriginHeaderValues returns what handlers binding a parameter ssn
// from headers and cookies read: Spring's @RequestHeader and ASP.NET's
// [FromHeader] ("Ssn", "X-Ssn"), CGI's HTTP_SSN/HTTP_X_SSN, cookies by
// name (case-insensitively, as ASP.NET's Request["ssn"] does).
func goOriginHeaderValues(h http.Header) []string {
	var out []string
	for k, vs := range h {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if n == "ssn" || n == "x-ssn" {
			out = append(out, vs...)
		}
	}
	r := &http.Request{Header: h}
	for _, c := range r.Cookies() {
		if strings.EqualFold(c.Name, "ssn") {
			out = append(out, c.Value)
		}
	}
	return out
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// FuzzPathForms: PathForms never panics, every form is a clean absolute
// path, and whatever Go's ServeMux (path.Clean of the decoded path)
// routes to /people, case folded, matches a /people prefix rule — or the
// path is refused.
func FuzzPathForms(f *testing.F) {
	for _, s := range []string{"/people", "//people", "/./people", "/x/../people", "/%2e/people", "/api/v1/../../people", "/People",
		"/a;b/../people", "/%252e%252e/people", "/x%2F..%2Fpeople", "/..;/people", "/people%00", "/%c0%ae/people"} {
		f.Add(s)
	}
	e, err := New(Config{Rules: []Rule{{Name: "people", PathPrefix: "/people", Fields: Fields("ssn"), KeyID: "01"}}, Keys: StaticKeys{"01": fakeEnc{}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		forms, err := PathForms(raw)
		if err != nil {
			if !errors.Is(err, ErrAmbiguousPath) {
				t.Fatalf("PathForms(%q): %v", raw, err)
			}
			return
		}
		for _, p := range forms {
			if p != "*" && !strings.HasPrefix(p, "/") && raw != "" && raw[0] == '/' {
				t.Fatalf("form %q of %q is not absolute", p, raw)
			}
		}
		if raw == "" || raw[0] != '/' {
			return
		}
		dec, err := url.PathUnescape(raw)
		if err != nil {
			return
		}
		clean := path.Clean(dec)
		if !strings.HasPrefix(strings.ToLower(clean), "/people") {
			return
		}
		rt := e.Route(Target{Method: "POST", Path: raw, HasBody: true})
		if rt.Action != ActionProtect {
			t.Fatalf("%q cleans to %q but Route gives %v (%v), forms %q", raw, clean, rt.Action, rt.Err, forms)
		}
	})
}

// TestNestedTokensUnprotect: tokens made inside content held by a field
// (JSON in a JSON string, JSON in a multipart part) bind the holding
// field's path, so Unprotector.JSON and Text restore the document.
func TestNestedTokensUnprotect(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	e := newEngine(t, Rule{Fields: Fields("ssn"), KeyID: "03"})
	u := NewUnprotector(UnprotectOptions{Decrypter: k.local})
	for _, tc := range []struct{ name, ct, body string }{
		{"json in a json string", "application/json", `{"variables":"{\"input\":{\"SSN\":\"123-45-6789\"}}","n":1}`},
		{"json in a multipart part", "multipart/form-data; boundary=B",
			"--B\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"ssn\": \"123-45-6789\"}\r\n--B--\r\n"},
	} {
		res := protect(t, e, tc.ct, []byte(tc.body))
		if res.Protected != 1 || strings.Contains(string(res.Body), "123-45-6789") {
			t.Fatalf("%s: protected %d: %s", tc.name, res.Protected, res.Body)
		}
		back, _, err := u.Text(context.Background(), res.Body)
		if tc.ct == "application/json" {
			back, _, err = u.JSON(context.Background(), res.Body)
		}
		if err != nil || string(back) != tc.body {
			t.Fatalf("%s: unprotect = %q, %v", tc.name, back, err)
		}
	}
}
