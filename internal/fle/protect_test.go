package fle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"crypto/rsa"

	"github.com/bulwarkd/bulwark/internal/fle/detect"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// TestSeedRoundTrip is the seed's scenario in every format: the six
// sensitive fields become tokens, every other byte is unchanged, and
// unprotect restores the original byte for byte.
func TestSeedRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	in := seedPeople(3)
	for _, tc := range []struct {
		name, key string
		format    token.Format
	}{
		{"rsa-oaep-256", "01", token.FormatRSA},
		{"hpke x25519", "03", token.FormatHPKE},
		{"hpke mlkem768x25519", "04", token.FormatHPKE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, Rule{Name: "people", Methods: []string{"POST"}, PathPrefix: "/people",
				ContentTypes: []string{"application/json"}, Fields: Fields(seedFields...), KeyID: tc.key, Format: tc.format})
			res := protect(t, e, "application/json; charset=utf-8", in)
			if !res.Matched || res.Rule != "people" || res.Protected != 18 {
				t.Fatalf("result: matched=%v rule=%q protected=%d", res.Matched, res.Rule, res.Protected)
			}
			out := string(res.Body)
			spans := token.Scan(out)
			if len(spans) != 18 {
				t.Fatalf("found %d tokens, want 18", len(spans))
			}
			for _, sp := range spans {
				if sp.KeyID != tc.key || sp.Format != tc.format {
					t.Fatalf("token %+v has wrong marker", sp)
				}
			}
			// Everything outside the sensitive values is byte-identical.
			var people []map[string]any
			if err := json.Unmarshal(in, &people); err != nil {
				t.Fatal(err)
			}
			stripIn := string(in)
			for _, p := range people {
				for _, f := range seedFields {
					stripIn = strings.Replace(stripIn, `"`+p[f].(string)+`"`, `""`, 1)
				}
			}
			stripOut := out
			for i := len(spans) - 1; i >= 0; i-- {
				stripOut = stripOut[:spans[i].Start] + stripOut[spans[i].End:]
			}
			if stripIn != stripOut {
				t.Fatalf("untouched bytes changed:\n%s\n%s", stripIn, stripOut)
			}
			for _, mode := range []string{"text", "json"} {
				u := NewUnprotector(UnprotectOptions{Decrypter: k.local})
				var back []byte
				var rep Report
				var err error
				if mode == "text" {
					back, rep, err = u.Text(context.Background(), res.Body)
				} else {
					back, rep, err = u.JSON(context.Background(), res.Body)
				}
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if !bytes.Equal(back, in) {
					t.Fatalf("%s unprotect differs:\n%s", mode, back)
				}
				if rep.Tokens != 18 || rep.Distinct != 18 || rep.Failed != 0 {
					t.Fatalf("%s report %+v", mode, rep)
				}
			}
		})
	}
}

func TestPayloadFormats(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	u := NewUnprotector(UnprotectOptions{Decrypter: k.local})
	tests := []struct {
		name, ct, body string
		rule           Rule
		protected      int
		// mustNotContain are plaintexts that must be gone from the output.
		mustNotContain []string
		// mustContain are plaintexts that must survive untouched.
		mustContain []string
		// decode turns the output back into text Unprotector.Text can read.
		decode func(string) string
	}{
		{
			name: "form", ct: "application/x-www-form-urlencoded",
			body:      "fname=Alejandro&email=a%40example.com&plan=gold",
			rule:      Rule{Fields: Fields("fname", "email"), KeyID: "01"},
			protected: 2, mustNotContain: []string{"Alejandro", "a%40example.com"}, mustContain: []string{"&plan=gold"},
			decode: func(s string) string { v, _ := url.QueryUnescape(s); return v },
		},
		{
			name: "multipart", ct: "multipart/form-data; boundary=B0",
			body:      "--B0\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\n123-45-6789\r\n--B0\r\nContent-Disposition: form-data; name=\"plan\"\r\n\r\ngold\r\n--B0--\r\n",
			rule:      Rule{Fields: Fields("ssn"), KeyID: "03"},
			protected: 1, mustNotContain: []string{"123-45-6789"}, mustContain: []string{"\r\n\r\ngold\r\n--B0--\r\n"},
		},
		{
			name: "xml element and attribute", ct: "application/xml",
			body:      `<order id="9"><customer ssn="123-45-6789"><name>Alejandro</name><city>Paris</city></customer></order>`,
			rule:      Rule{Fields: Fields("/order/customer/name", "@ssn"), KeyID: "04"},
			protected: 2, mustNotContain: []string{"Alejandro", "123-45-6789"}, mustContain: []string{`<order id="9">`, "<city>Paris</city>"},
		},
		{
			name: "json path with detectors in strings", ct: "application/json",
			body: `{"customer":{"card":{"number":"4111 1111 1111 1111","exp":"12/29"}},"note":"call +1 415 555 2671 or mail a@b.io; ref 4111111111111112","n":7}`,
			rule: Rule{Fields: Fields("$.customer.card.number"), KeyID: "01",
				Detectors: []detect.Kind{detect.Card, detect.Email, detect.Phone}},
			protected: 3, mustNotContain: []string{"4111 1111 1111 1111", "415 555 2671", "a@b.io"},
			mustContain: []string{`"exp":"12/29"`, "ref 4111111111111112", `"n":7`},
		},
		{
			name: "text detectors", ct: "text/plain",
			body:      "ssn 123-45-6789, bogus 666-12-3456, card 4111111111111111, bad 4111111111111112\n",
			rule:      Rule{Detectors: detect.AllKinds(), KeyID: "03"},
			protected: 2, mustNotContain: []string{"123-45-6789", "4111111111111111"},
			mustContain: []string{"bogus 666-12-3456", "bad 4111111111111112"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := protect(t, newEngine(t, tc.rule), tc.ct, []byte(tc.body))
			out := string(res.Body)
			if res.Protected != tc.protected {
				t.Fatalf("protected %d, want %d: %s", res.Protected, tc.protected, out)
			}
			for _, s := range tc.mustNotContain {
				if strings.Contains(out, s) {
					t.Errorf("plaintext %q reached the output: %s", s, out)
				}
			}
			for _, s := range tc.mustContain {
				if !strings.Contains(out, s) {
					t.Errorf("%q not preserved: %s", s, out)
				}
			}
			text := out
			if tc.decode != nil {
				text = tc.decode(out)
			}
			back, _, err := u.Text(context.Background(), []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.body
			if tc.decode != nil {
				want = tc.decode(tc.body)
			}
			if tc.ct == "application/xml" || tc.ct == "application/json" || strings.HasPrefix(tc.ct, "multipart") || tc.ct == "text/plain" || tc.decode != nil {
				if string(back) != want {
					t.Fatalf("round trip:\n got %s\nwant %s", back, want)
				}
			}
		})
	}
}

func TestQueryParameters(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Rule{Methods: []string{"GET"}, Query: Fields("ssn"), KeyID: "01"})
	res, err := e.Protect(context.Background(), Request{Method: "GET", Path: "/lookup", RawQuery: "ssn=123-45-6789&page=2"})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(res.RawQuery)
	if _, err := token.Parse(q.Get("ssn")); err != nil || q.Get("page") != "2" || !strings.HasSuffix(res.RawQuery, "&page=2") {
		t.Fatalf("query = %q", res.RawQuery)
	}
}

func TestRuleMatching(t *testing.T) {
	t.Parallel()
	e := newEngine(t,
		Rule{Name: "exact", Methods: []string{"put"}, PathExact: "/a", KeyID: "01"},
		Rule{Name: "host", Host: "*.example.com", PathRegex: `^/v[0-9]+/people$`, KeyID: "01"},
		Rule{Name: "ct", PathPrefix: "/x/", ContentTypes: []string{"application/*+json"}, KeyID: "01"},
	)
	tests := []struct{ name, method, host, path, ct, want string }{
		{"method case", "PUT", "h", "/a", "", "exact"},
		{"method mismatch", "POST", "h", "/a", "", ""},
		{"host wildcard with port", "POST", "api.Example.com:8443", "/v2/people", "", "host"},
		{"host apex not wildcard", "POST", "example.com", "/v2/people", "", ""},
		{"content type suffix", "PATCH", "h", "/x/1", "application/merge-patch+json; charset=utf-8", "ct"},
		{"content type mismatch", "PATCH", "h", "/x/1", "text/plain", ""},
	}
	for _, tc := range tests {
		r, ok := e.Match(tc.method, tc.host, tc.path, tc.ct)
		if got := map[bool]string{true: r.Name}[ok]; got != tc.want {
			t.Errorf("%s: matched %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPerFieldKeysLeastPrivilege: email under key 02, the rest under 01; a
// caller able to decrypt only 02 gets e-mails back and nothing else.
func TestPerFieldKeysLeastPrivilege(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	fields := Fields(seedFields...)
	fields[2].KeyID = "02" // email
	e := newEngine(t, Rule{Fields: fields, KeyID: "01"})
	in := seedPeople(2)
	res := protect(t, e, "application/json", in)
	onlyEmail := token.LocalKeys{RSA: map[string]*rsa.PrivateKey{"02": k.rsa2}}
	tests := []struct {
		name    string
		mode    OnError
		wantErr bool
		check   func(t *testing.T, out string)
	}{
		{"fail", Fail, true, nil},
		{"keep", Keep, false, func(t *testing.T, out string) {
			if !strings.Contains(out, `"email": "alejandro1@example.com"`) || strings.Contains(out, "123-45-") || strings.Count(out, "#01#") != 10 {
				t.Fatalf("keep output: %s", out)
			}
		}},
		{"redact", Redact, false, func(t *testing.T, out string) {
			if !strings.Contains(out, `"email": "alejandro0@example.com"`) || strings.Count(out, `"[REDACTED]"`) != 10 {
				t.Fatalf("redact output: %s", out)
			}
		}},
	}
	for _, tc := range tests {
		u := NewUnprotector(UnprotectOptions{Decrypter: onlyEmail, OnError: tc.mode})
		out, rep, err := u.Text(context.Background(), res.Body)
		if tc.wantErr {
			var fe *Error
			if !errors.As(err, &fe) || fe.Kind != KindDecrypt || out != nil {
				t.Fatalf("%s: out=%q err=%v", tc.name, out, err)
			}
			continue
		}
		if err != nil || rep.Failed != 10 {
			t.Fatalf("%s: %v %+v", tc.name, err, rep)
		}
		tc.check(t, string(out))
	}
}

type failAfter struct {
	token.Encrypter
	n *int
}

func (f failAfter) Encrypt(p []byte, path string) (string, error) {
	if *f.n == 0 {
		return "", errors.New("hsm on fire")
	}
	*f.n--
	return f.Encrypter.Encrypt(p, path)
}

type errKeys struct{}

func (errKeys) Encrypter(context.Context, string) (token.Encrypter, error) {
	return nil, errors.New("kms unreachable")
}

// TestFailClosed: every failure yields a typed error and an empty Result,
// so no byte of a protected field can be forwarded.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	n := 3
	flaky := StaticKeys{"01": failAfter{k.keys["01"], &n}}
	big := `[{"ssn":"` + strings.Repeat("9", 191) + `"}]`
	tests := []struct {
		name  string
		keys  KeySource
		rule  Rule
		limit int64
		ct    string
		body  string
		kind  ErrorKind
	}{
		{"unparseable json", nil, Rule{Fields: Fields("ssn"), KeyID: "01"}, 0, "application/json", `[{"ssn":"123-45-6789"`, KindUnparseable},
		{"oversize body", nil, Rule{Fields: Fields("ssn"), KeyID: "01"}, 64, "application/json", `[{"ssn":"123-45-6789","pad":"` + strings.Repeat("x", 64) + `"}]`, KindBodyTooLarge},
		{"kms unreachable", errKeys{}, Rule{Fields: Fields("ssn"), KeyID: "01"}, 0, "application/json", `[{"ssn":"123-45-6789"}]`, KindKeyUnavailable},
		{"unknown key", nil, Rule{Fields: Fields("ssn"), KeyID: "77"}, 0, "application/json", `[{"ssn":"123-45-6789"}]`, KindKeyUnavailable},
		{"format mismatch", nil, Rule{Fields: Fields("ssn"), KeyID: "01", Format: token.FormatHPKE}, 0, "application/json", `[{"ssn":"123-45-6789"}]`, KindKeyUnavailable},
		{"rsa plaintext too large", nil, Rule{Fields: Fields("ssn"), KeyID: "01"}, 0, "application/json", big, KindPlaintextTooLarge},
		{"encrypt fails mid-body", flaky, Rule{Fields: Fields("ssn"), KeyID: "01"}, 0, "application/json", `[{"ssn":"1"},{"ssn":"2"},{"ssn":"3"},{"ssn":"123-45-6789"}]`, KindEncrypt},
		{"unsupported media type", nil, Rule{Fields: Fields("ssn"), KeyID: "01"}, 0, "application/octet-stream", `ssn=123-45-6789`, KindUnsupported},
		{"file part selected", nil, Rule{Fields: Fields("ssn"), KeyID: "01"}, 0, "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"ssn\"; filename=\"s.txt\"\r\n\r\n123-45-6789\r\n--b--", KindUnparseable},
		{"xml element with children selected", nil, Rule{Fields: Fields("customer"), KeyID: "01"}, 0, "text/xml", `<customer><ssn>123-45-6789</ssn></customer>`, KindUnparseable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := tc.keys
			if keys == nil {
				keys = k.keys
			}
			e, err := New(Config{Rules: []Rule{tc.rule}, Keys: keys, BodyLimit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Protect(context.Background(), Request{Method: "POST", Path: "/", ContentType: tc.ct, Body: strings.NewReader(tc.body)})
			var fe *Error
			if !errors.As(err, &fe) || fe.Kind != tc.kind {
				t.Fatalf("err = %v, want kind %s", err, tc.kind)
			}
			if res.Body != nil || res.RawQuery != "" || res.Matched {
				t.Fatalf("partial result returned: %+v", res)
			}
			if strings.Contains(err.Error(), "123-45-6789") {
				t.Fatalf("error leaks plaintext: %v", err)
			}
			if fe.Kind.HTTPStatus() < 400 {
				t.Fatalf("status %d", fe.Kind.HTTPStatus())
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	k := testKeys(t)
	for _, r := range []Rule{
		{Fields: Fields("ssn")},                                          // no key
		{Fields: Fields("$["), KeyID: "01"},                              // bad selector
		{PathExact: "/a", PathPrefix: "/b", KeyID: "01"},                 // two path modes
		{PathRegex: "(", KeyID: "01"},                                    // bad regex
		{Detectors: []detect.Kind{"iban"}, KeyID: "01"},                  // unknown detector
		{Query: Fields("@a"), KeyID: "01"},                               // query needs names or $ paths
		{Fields: []Field{{Selector: "a", KeyID: "bad id"}}, KeyID: "01"}, // bad marker id
	} {
		_, err := New(Config{Rules: []Rule{r}, Keys: k.keys})
		var fe *Error
		if !errors.As(err, &fe) || fe.Kind != KindConfig {
			t.Errorf("rule %+v: err = %v", r, err)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("nil key source accepted")
	}
}

func TestUnmatchedPassThrough(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Rule{PathPrefix: "/people", Fields: Fields("ssn"), KeyID: "01"})
	body := `{"name":"ann","note":"no protected names here"}`
	res, err := e.Protect(context.Background(), Request{Method: "POST", Path: "/other", ContentType: "application/json", Body: io.NopCloser(strings.NewReader(body))})
	if err != nil || res.Matched || string(res.Body) != body {
		t.Fatalf("res=%+v err=%v", res, err)
	}
	_ = fmt.Sprint()
}
