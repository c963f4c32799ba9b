package codec

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"
)

// marker stands for a sensitive value in the fuzzed payloads.
const marker = "s3cr3t"

// protectMarked replaces every field value that contains the marker.
func protectMarked(f Field) (string, bool, error) {
	if strings.Contains(f.Value, marker) {
		return "TOKEN", true, nil
	}
	return "", false, nil
}

// noMarkedValue fails if re-reading out with the same codec finds a field
// value that still carries the marker: a protected value must never
// survive a rewrite that reported success.
func noMarkedValue(t *testing.T, out []byte, reread func([]byte, Func) ([]byte, int, error)) {
	t.Helper()
	_, _, err := reread(out, func(f Field) (string, bool, error) {
		if strings.Contains(f.Value, marker) {
			t.Fatalf("field %s kept a protected value %q in %q", f.Path, f.Value, out)
		}
		return "", false, nil
	})
	if err != nil {
		t.Fatalf("the rewritten payload no longer parses: %v (%q)", err, out)
	}
}

func FuzzRewriteForm(f *testing.F) {
	f.Add([]byte("ssn=s3cr3t&name=ann"))
	f.Add([]byte("a=%73%33cr3t&b=c+d&&e"))
	f.Add([]byte("x=1;y=s3cr3t"))
	f.Add([]byte("user[ssn]=s3cr3t;a.b=c&&;ssn+%00=s3cr3t"))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, err := RewriteForm(body, "form", protectMarked)
		if err != nil {
			return
		}
		noMarkedValue(t, out, func(b []byte, fn Func) ([]byte, int, error) { return RewriteForm(b, "form", fn) })
	})
}

func FuzzRewriteMultipart(f *testing.F) {
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\ns3cr3t\r\n--b--\r\n"))
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\ns3cr3t\r\n--b--\r\n"))
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"x\"; name*=UTF-8''ssn\r\n\r\ns3cr3t\r\n--b--\r\n"))
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"o\"\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\ns3cr3t\r\n--c--\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, err := RewriteMultipart(body, "b", protectMarked)
		if err != nil {
			return
		}
		noMarkedValue(t, out, func(b []byte, fn Func) ([]byte, int, error) { return RewriteMultipart(b, "b", fn) })
	})
}

// FuzzMultipartGoAgrees checks the edge against the parser an origin
// uses: after a successful rewrite that protects every field named "ssn",
// Go's mime/multipart (what r.FormValue and ParseMultipartForm use) must
// find no "ssn" text part whose value is not the token, whatever the line
// endings, preamble or epilogue.
func FuzzMultipartGoAgrees(f *testing.F) {
	for _, s := range []string{
		"--b\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\ns3cr3t\r\n--b--\r\n",
		"\n--b\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\ns3cr3t\r\n--b\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--b--\r\n",
		"x\n--b\nContent-Disposition: form-data; name=\"ssn\"\n\ns3cr3t\n--b--\n\r\n--b\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--b--\r\n",
		"--b\r\nContent-Disposition: form-data; name=\"ssn\"\n\ns3cr3t\r\n--b\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--b--\r\n",
		"--b\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nzz\r\n--b--\r\n--b\r\nContent-Disposition: form-data; name=\"ssn\"\r\n\r\ns3cr3t\r\n--b--\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, err := RewriteMultipart(body, "b", func(fd Field) (string, bool, error) {
			if fd.Name == "ssn" {
				return "TOKEN", true, nil
			}
			return "", false, nil
		})
		if err != nil {
			return
		}
		r := multipart.NewReader(bytes.NewReader(out), "b")
		for {
			p, err := r.NextPart()
			if err != nil {
				return // io.EOF or a parse error: nothing more reaches a handler
			}
			if p.FormName() != "ssn" || p.FileName() != "" {
				continue
			}
			v, err := io.ReadAll(p)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			if string(v) != "TOKEN" {
				t.Fatalf("Go reads ssn = %q from rewritten %q", v, out)
			}
		}
	})
}

func FuzzRewriteXML(f *testing.F) {
	f.Add([]byte(`<p><ssn>s3cr3t</ssn><n a="s3cr3t">x</n></p>`))
	f.Add([]byte(`<p><![CDATA[s3cr3t]]><q>s&#51;cr3t</q></p>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, err := RewriteXML(body, protectMarked)
		if err != nil {
			return
		}
		noMarkedValue(t, out, RewriteXML)
	})
}
