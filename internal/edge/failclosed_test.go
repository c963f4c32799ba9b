package edge_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

const leakSSN = "123-45-6789"

// decodingOrigin decodes every body the way Go handlers do, whatever its
// Content-Type: r.FormValue (url-encoded and multipart forms), encoding/json
// into a tagged struct, encoding/xml Unmarshal. It records every value of
// "ssn" (and XML attribute "id") any of them produced, plus the raw body.
type decodingOrigin struct {
	*httptest.Server
	mu     sync.Mutex
	values []string
	raw    [][]byte
}

func newDecodingOrigin(t *testing.T) *decodingOrigin {
	o := &decodingOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var vals []string
		r.Body = io.NopCloser(bytes.NewReader(b))
		vals = append(vals, r.FormValue("ssn"))
		var js struct {
			SSN string `json:"ssn"`
		}
		if json.Unmarshal(b, &js) == nil {
			vals = append(vals, js.SSN)
		}
		var xs struct {
			SSN string `xml:"ssn"`
			ID  string `xml:"id,attr"`
		}
		if xml.Unmarshal(b, &xs) == nil {
			vals = append(vals, xs.SSN, xs.ID)
		}
		o.mu.Lock()
		o.values = append(o.values, vals...)
		o.raw = append(o.raw, b)
		o.mu.Unlock()
		_, _ = io.WriteString(w, "origin ok")
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *decodingOrigin) snapshot() ([]string, [][]byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.values...), append([][]byte(nil), o.raw...)
}

// rsaKeys is a local RSA-2048 key under marker "01", so these tests need
// no KMS.
func rsaKeys(t *testing.T) fle.StaticKeys {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := token.NewRSAEncrypter("01", &k.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fle.StaticKeys{"01": enc}
}

const mpLFPreamble = "\n--B\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\n" + leakSSN +
	"\r\n--B\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--B--\r\n"

const mpLFOnlyWithDecoy = "x\n--B\nContent-Disposition: form-data; name=\"ssn\"\n\n" + leakSSN + "\n--B--\n" +
	"\r\n--B\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--B--\r\n"

const mpLFHeaders = "--B\r\nContent-Disposition: form-data; name=\"ssn\"\n\n" + leakSSN +
	"\r\n--B\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--B--\r\n"

const mpEpilogue = "--B\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--B--\r\n" +
	"--B\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\n" + leakSSN + "\r\n--B--\r\n"

const mpEmptyPartAhead = "--B\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\n" +
	leakSSN + "\r\n--B--\r\n"

const mpGood = "--B\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\n" + leakSSN +
	"\r\n--B\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--B--\r\n"

// TestOriginNeverSeesPlaintext sends payloads built to make the edge and a
// Go origin disagree about where a protected field is. Each must either be
// rewritten (the origin decodes a token) or refused with the documented
// status (the origin gets nothing); no decoder at the origin may ever
// produce the plaintext.
func TestOriginNeverSeesPlaintext(t *testing.T) {
	t.Parallel()
	keys := rsaKeys(t)
	flags := fle.Rule{Name: "flags", Fields: fle.Fields("ssn"), KeyID: "01"}
	// The docs/edge.md example rule.
	people := fle.Rule{Name: "people", Methods: []string{"POST", "PUT"}, Host: "api.example.com", PathPrefix: "/people",
		ContentTypes: []string{"application/json"}, Fields: fle.Fields("ssn"), KeyID: "01"}
	xmlAttr := fle.Rule{Name: "xml", Fields: fle.Fields("ssn", "@id"), KeyID: "01"}
	xmlPath := fle.Rule{Name: "xmlpath", Fields: fle.Fields("/r/ssn"), KeyID: "01"}
	tests := []struct {
		name, host, ct, body string
		rule                 fle.Rule
		want                 int // 200: rewritten and forwarded
	}{
		// #1 multipart
		{"multipart well formed", "", "multipart/form-data; boundary=B", mpGood, flags, 200},
		{"multipart delimiter after bare LF in preamble", "", "multipart/form-data; boundary=B", mpLFPreamble, flags, 400},
		{"multipart LF-only body with CRLF decoy", "", "multipart/form-data; boundary=B", mpLFOnlyWithDecoy, flags, 400},
		{"multipart LF-terminated part headers", "", "multipart/form-data; boundary=B", mpLFHeaders, flags, 400},
		{"multipart part body starting with a delimiter", "", "multipart/form-data; boundary=B", mpEmptyPartAhead, flags, 400},
		{"multipart delimiter in epilogue", "", "multipart/form-data; boundary=B", mpEpilogue, flags, 400},
		// #2 JSON names fold like encoding/json
		{"json exact name", "", "application/json", `{"ssn":"` + leakSSN + `"}`, flags, 200},
		{"json upper case name", "", "application/json", `{"SSN":"` + leakSSN + `"}`, flags, 200},
		{"json long s name", "", "application/json", `{"ſsn":"` + leakSSN + `"}`, flags, 200},
		{"json escaped long s name", "", "application/json", `{"\u017fSn":"` + leakSSN + `"}`, flags, 200},
		{"json path selector case", "", "application/json", `{"Ssn":"` + leakSSN + `"}`,
			fle.Rule{Name: "path", Fields: fle.Fields("$.ssn"), KeyID: "01"}, 200},
		// #3 XML local names
		{"xml prefixed element", "", "application/xml", `<r xmlns:p="urn:x"><p:ssn>` + leakSSN + `</p:ssn></r>`, flags, 200},
		{"xml prefixed attribute", "", "application/xml", `<r xmlns:p="urn:x" p:id="` + leakSSN + `"/>`, xmlAttr, 200},
		{"xml path with prefixes", "", "text/xml", `<p:r xmlns:p="urn:x"><p:ssn>` + leakSSN + `</p:ssn></p:r>`, xmlPath, 200},
		// #4 host and content type are the client's word
		{"host as configured", "api.example.com", "application/json", `{"ssn":"` + leakSSN + `"}`, people, 200},
		{"host trailing dot", "api.example.com.", "application/json", `{"ssn":"` + leakSSN + `"}`, people, 200},
		{"host upper case with port", "API.Example.COM:8443", "application/json", `{"ssn":"` + leakSSN + `"}`, people, 200},
		{"host IP literal", "127.0.0.1", "application/json", `{"ssn":"` + leakSSN + `"}`, people, 421},
		{"host other name", "evil.example.net", "application/json", `{"ssn":"` + leakSSN + `"}`, people, 421},
		{"json body as text/plain", "api.example.com", "text/plain", `{"ssn":"` + leakSSN + `"}`, people, 415},
		{"json body without content type", "api.example.com", "", `{"ssn":"` + leakSSN + `"}`, people, 415},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newDecodingOrigin(t)
			s, _ := startEdge(t, keys, o.URL, 0, tc.rule)
			req, err := http.NewRequest("POST", s.URL+"/people", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			vals, raw := o.snapshot()
			for _, b := range raw {
				if bytes.Contains(b, []byte(leakSSN)) {
					t.Errorf("origin received the plaintext in %q", b)
				}
			}
			for _, v := range vals {
				if strings.Contains(v, leakSSN) {
					t.Errorf("origin decoded the plaintext %q", v)
				}
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, rb, tc.want)
			}
			if tc.want != 200 {
				if len(raw) != 0 {
					t.Errorf("refused request reached the origin")
				}
				var eb struct {
					Error struct {
						Status int `json:"status"`
					} `json:"error"`
				}
				if json.Unmarshal(rb, &eb) != nil || eb.Error.Status != tc.want || resp.Header.Get("X-Bulwark-Edge-Error") == "" {
					t.Errorf("refusal is not the documented JSON error: %s", rb)
				}
				return
			}
			tokens := 0
			for _, v := range vals {
				if strings.HasPrefix(v, "#01#") {
					tokens++
				}
			}
			if tokens == 0 {
				t.Errorf("origin decoded no token: %q", vals)
			}
		})
	}
}
