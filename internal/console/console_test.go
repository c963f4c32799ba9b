package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://bulwark.test/", nil)
	r.URL.Path = path // as sent, not cleaned: the handler must refuse what is not a file
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestServesFilesWithPolicy: every response, refusals included, carries
// the strict policy and the anti-framing and no-sniff headers.
func TestServesFilesWithPolicy(t *testing.T) {
	h := New(Config{Region: "eu-west-3", AccountID: "111122223333"})
	cases := []struct {
		name, method, path string
		status             int
		ctype              string
	}{
		{"index", "GET", "/console/", 200, "text/html; charset=utf-8"},
		{"module", "GET", "/console/app.js", 200, "text/javascript; charset=utf-8"},
		{"signer", "GET", "/console/sigv4.js", 200, "text/javascript; charset=utf-8"},
		{"style", "HEAD", "/console/style.css", 200, "text/css; charset=utf-8"},
		{"config", "GET", "/console/config.json", 200, "application/json"},
		{"no trailing slash", "GET", "/console", 301, ""},
		{"post", "POST", "/console/", 405, ""},
		{"unknown", "GET", "/console/nope.js", 404, ""},
		{"dot-dot", "GET", "/console/../server.go", 404, ""},
		{"encoded dot-dot", "GET", "/console/%2e%2e/console.go", 404, ""},
		{"absolute", "GET", "/console//etc/passwd", 404, ""},
		{"go source", "GET", "/console/console.go", 404, ""},
		{"directory", "GET", "/console/static", 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := get(t, h, c.method, c.path)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			if got := w.Header().Get("Content-Security-Policy"); got != CSP {
				t.Errorf("CSP %q", got)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("headers %v", w.Header())
			}
			if c.ctype != "" && w.Header().Get("Content-Type") != c.ctype {
				t.Errorf("content type %q, want %q", w.Header().Get("Content-Type"), c.ctype)
			}
		})
	}
	if body := get(t, h, "GET", "/console/config.json").Body.String(); !strings.Contains(body, `"region":"eu-west-3"`) {
		t.Errorf("config %s", body)
	}
}

// TestPolicyForbidsInlineAndForeign: the policy's promises, checked on the
// string itself, and the page holds no inline script or style to need
// more.
func TestPolicyForbidsInlineAndForeign(t *testing.T) {
	for _, must := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(CSP, must) {
			t.Errorf("CSP lacks %q", must)
		}
	}
	for _, never := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(CSP, never) {
			t.Errorf("CSP allows %q", never)
		}
	}
	index := get(t, New(Config{}), "GET", "/console/").Body.String()
	for _, inline := range []string{"<script>", "style=", "onclick=", "<style"} {
		if strings.Contains(index, inline) {
			t.Errorf("index.html has inline %q", inline)
		}
	}
}

func TestOwns(t *testing.T) {
	for p, want := range map[string]bool{"/console": true, "/console/": true, "/console/app.js": true, "/": false, "/consoles": false, "/crl/x": false} {
		if Owns(p) != want {
			t.Errorf("Owns(%q) = %v", p, !want)
		}
	}
}

// FuzzServeHTTP: no path makes the handler serve something outside its
// files or answer without the policy.
func FuzzServeHTTP(f *testing.F) {
	for _, s := range []string{"/console/", "/console/../x", "/console/%00", "/console/.hidden", "/console/a/../../b"} {
		f.Add(s)
	}
	h := New(Config{})
	f.Fuzz(func(t *testing.T, p string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://bulwark.test/", nil)
		r.URL.Path = "/console/" + p
		h.ServeHTTP(w, r)
		if w.Header().Get("Content-Security-Policy") != CSP {
			t.Fatal("response without the policy")
		}
		if w.Code == 200 && strings.Contains(p, "..") {
			t.Fatalf("served %q", p)
		}
	})
}
