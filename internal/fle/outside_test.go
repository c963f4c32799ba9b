package fle

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestOutsideRulesBodies: a body on a path no rule covers is forwarded
// unchanged only when the edge can show it carries no protected name;
// every class of carrier (each encoding, nested content, text formats the
// edge does not parse, binary and non-ASCII charsets) is refused.
func TestOutsideRulesBodies(t *testing.T) {
	t.Parallel()
	people := Rule{Name: "people", Methods: []string{"POST"}, PathPrefix: "/people", ContentTypes: []string{"application/json"},
		Fields: Fields("ssn", "$[*].email", "/r/@iban"), Query: Fields("token"), KeyID: "01"}
	e := newEngine(t, people)
	mp := func(part string) string { return "--B\r\n" + part + "\r\n--B--\r\n" }
	tests := []struct {
		name, ct, body string
		kind           ErrorKind // "" = forwarded unchanged
	}{
		{"json", "application/json", `{"a":{"SSN":"1"}}`, KindOutsideRule},
		{"json selector leaf", "application/json", `[{"email":"a@b"}]`, KindOutsideRule},
		{"json query selector", "application/json", `{"token":"1"}`, KindOutsideRule},
		{"json unicode-escaped key", "application/vnd.api+json", `{"s\u0073n":"1"}`, KindOutsideRule},
		{"json NUL key", "application/json", `{"ssn\u0000":"1"}`, KindOutsideRule},
		{"json in a json string", "application/json", `{"v":"{\"ssn\":1}"}`, KindOutsideRule},
		{"form", "application/x-www-form-urlencoded", "a=1&user[ssn]=1", KindOutsideRule},
		{"form semicolon", "application/x-www-form-urlencoded", "a=1;Ssn=1", KindOutsideRule},
		{"form json value", "application/x-www-form-urlencoded", "v=%7B%22ssn%22%3A1%7D", KindOutsideRule},
		{"multipart part", "multipart/form-data; boundary=B", mp("Content-Disposition: form-data; name=\"ssn\"\r\n\r\n1"), KindOutsideRule},
		{"multipart file part named ssn", "multipart/form-data; boundary=B", mp("Content-Disposition: form-data; name=\"ssn\"; filename=\"a\"\r\n\r\n1"), KindOutsideRule},
		{"multipart graphql part", "multipart/form-data; boundary=B", mp("Content-Disposition: form-data; name=\"operations\"\r\n\r\n{\"variables\":{\"ssn\":1}}"), KindOutsideRule},
		{"multipart undeclared form part", "multipart/form-data; boundary=B", mp("Content-Disposition: form-data; name=\"p\"\r\n\r\nx=1&ssn=2"), KindOutsideRule},
		{"multipart quoted-printable", "multipart/form-data; boundary=B", mp("Content-Disposition: form-data; name=\"p\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=73sn=1"), KindUnsupported},
		{"xml element", "application/xml", `<r><Ssn>1</Ssn></r>`, KindOutsideRule},
		{"xml attribute", "text/xml", `<r p:iban="1" xmlns:p="u"/>`, KindOutsideRule},
		{"json utf-16", "application/json; charset=utf-16", "{\x00\"\x00s\x00s\x00n\x00\"\x00:\x001\x00}\x00", KindUnsupported},
		{"malformed json", "application/json", `{"a":`, KindUnparseable},
		{"text json", "text/plain", `{"ssn":"1"}`, KindOutsideRule},
		{"no type form", "", "ssn=1", KindOutsideRule},
		{"yaml", "application/yaml", "person:\n  SSN: 1\n", KindOutsideRule},
		{"csv", "text/csv", "name,ssn\nann,1\n", KindOutsideRule},
		{"percent-encoded name", "text/plain", "%73%73n=1", KindOutsideRule},
		{"double percent-encoded name", "application/octet-stream", "%2573sn=1", KindOutsideRule},
		{"backslash-escaped name", "application/x-yaml", `"\x73sn": 1`, KindOutsideRule},
		{"json escape in text", "text/plain", `{"\u0053SN":1}`, KindOutsideRule},
		{"xml character reference", "text/html", `<i name="&#115;&#x73;n">`, KindOutsideRule},
		{"unparseable content type", "application/json, application/x-www-form-urlencoded", `{"a":"x&ssn=1"}`, KindUnsupported},
		{"repeated ebcdic charset", "application/x-www-form-urlencoded; charset=ibm037; charset=ibm037", "%A2%A2%95=1", KindUnsupported},
		{"hidden second charset", "text/plain; a=\"charset=ibm037\"", "\xa2\xa2\x95=1", KindUnsupported},
		{"binary", "application/octet-stream", "\x89PNG\x00\x01ssn", KindUnsupported},
		{"utf-16 text", "text/plain", "s\x00s\x00n\x00", KindUnsupported},
		{"utf-7 text", "text/plain; charset=utf-7", "+AHM-sn=1", KindUnsupported},
		// Legitimate bodies pass.
		{"legit json", "application/json", `{"name":"ann","assn":"x","ssn_note":1}`, ""},
		{"legit form", "application/x-www-form-urlencoded", "name=ann&plan=gold", ""},
		{"legit text", "text/plain", "hello, lessons learnt", ""},
		{"legit binary-free upload", "application/octet-stream", "just bytes", ""},
		{"legit multipart file", "multipart/form-data; boundary=B", mp("Content-Disposition: form-data; name=\"img\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\x00"), ""},
	}
	for _, tc := range tests {
		res, err := e.Protect(context.Background(), Request{Method: "PUT", Path: "/other", ContentType: tc.ct, Body: strings.NewReader(tc.body)})
		var fe *Error
		errors.As(err, &fe)
		switch {
		case tc.kind == "" && (err != nil || string(res.Body) != tc.body || res.Matched):
			t.Errorf("%s: Protect = %+v, %v; want forwarded unchanged", tc.name, res, err)
		case tc.kind != "" && (fe == nil || fe.Kind != tc.kind):
			t.Errorf("%s: err = %v; want %s", tc.name, err, tc.kind)
		case fe != nil && strings.Contains(fe.Error(), `"1"`):
			t.Errorf("%s: error %q may carry a value", tc.name, fe)
		}
	}
	// Nothing to look for: every body passes.
	bare := newEngine(t, Rule{PathPrefix: "/people", Detectors: nil, KeyID: "01", Query: nil, Fields: nil})
	if rt := bare.Route(Target{Method: "POST", Path: "/other", HasBody: true}); rt.Action != ActionPass {
		t.Errorf("engine with no fields scans: %v", rt.Action)
	}
}

// TestCheckHeader: headers and cookies named like a protected field are
// refused unless their value is a token; standard headers, other names
// and ambiguous repeats are handled as documented.
func TestCheckHeader(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Rule{Name: "people", PathPrefix: "/people", Fields: Fields("ssn", "$.user.email", "date", "@iban"), Query: Fields("api_key"), KeyID: "01"})
	tok := "#01#QUJD#10#"
	tests := []struct {
		name string
		h    http.Header
		kind ErrorKind
	}{
		{"header bare name", http.Header{"Ssn": {"1"}}, KindProtectedHeader},
		{"header X- prefix", http.Header{"X-Ssn": {"1"}}, KindProtectedHeader},
		{"header underscore", http.Header{"X_SSN": {"1"}}, KindProtectedHeader},
		{"header dotted", http.Header{"User.Email": {"1"}}, KindProtectedHeader},
		{"header query selector with dashes", http.Header{"X-Api-Key": {"1"}}, KindProtectedHeader},
		{"header xml attribute selector", http.Header{"X-Iban": {"1"}}, KindProtectedHeader},
		{"header second value plaintext", http.Header{"X-Ssn": {tok, "1"}}, KindProtectedHeader},
		{"cookie", http.Header{"Cookie": {"sid=1; ssn=1"}}, KindProtectedHeader},
		{"cookie case", http.Header{"Cookie": {"SSN=1"}}, KindProtectedHeader},
		{"cookie comma separated", http.Header{"Cookie": {"sid=1, ssn=1"}}, KindProtectedHeader},
		{"cookie percent-encoded name", http.Header{"Cookie": {"%73sn=1"}}, KindProtectedHeader},
		{"cookie php brackets", http.Header{"Cookie": {"user[email]=1"}}, KindProtectedHeader},
		{"second cookie header", http.Header{"Cookie": {"a=1", "ssn=1"}}, KindProtectedHeader},
		{"repeated content type", http.Header{"Content-Type": {"application/json", "application/x-www-form-urlencoded"}}, KindAmbiguousHeader},
		{"repeated content encoding", http.Header{"Content-Encoding": {"identity", "gzip"}}, KindAmbiguousHeader},
		{"declared trailer", http.Header{"Trailer": {"X-Ssn"}}, KindAmbiguousHeader},
		// Allowed.
		{"token in a header", http.Header{"X-Ssn": {tok}}, ""},
		{"quoted percent-encoded token in a cookie", http.Header{"Cookie": {`ssn="%2301%23QUJD%2310%23"`}}, ""},
		{"standard header sharing a field name", http.Header{"Date": {"Tue, 01 Jan 2026 00:00:00 GMT"}}, ""},
		{"unrelated headers", http.Header{"X-Ssn-Hint": {"1"}, "Cookie": {"session=1; assn=2"}, "Accept": {"*/*"}}, ""},
	}
	for _, tc := range tests {
		err := e.CheckHeader(tc.h)
		var fe *Error
		errors.As(err, &fe)
		if (tc.kind == "") != (err == nil) || (fe != nil && fe.Kind != tc.kind) {
			t.Errorf("%s: CheckHeader = %v; want %q", tc.name, err, tc.kind)
		}
	}
}

func TestMentionsName(t *testing.T) {
	t.Parallel()
	names := []string{foldPath("ssn")}
	for s, want := range map[string]bool{
		"ssn": true, "a SSN b": true, "x.ssn=": true, "ſsn": true, "%2573%2573n": true, `\u0073sn`: true, "&#x53;sn": true,
		"assn": false, "ssn_x": false, "ssn2": false, "": false, "&#99999999999;": false,
	} {
		if got := mentionsName(s, names) != ""; got != want {
			t.Errorf("mentionsName(%q) = %v, want %v", s, got, want)
		}
	}
}
