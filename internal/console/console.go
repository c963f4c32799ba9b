package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var assets embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// CSP is the Content-Security-Policy of every console response: scripts,
// styles and connections from this origin only, no inline script or
// style, no plugins, no framing, no form posts anywhere, and Trusted Types
// enforced so no string can become markup (the console builds the DOM with
// textContent only).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Config is what the console tells the browser about the server.
type Config struct {
	// Region is the region the browser signs for; "" means "us-east-1".
	Region string
	// AccountID is shown on the first-run page; "" shows none.
	AccountID string
}

// Handler serves the console's files. It never authenticates: everything
// it serves is public, and every API call the page makes is signed by the
// browser and verified by the API as any other client's.
type Handler struct {
	files  fs.FS
	config []byte
}

// New returns the console handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	b, _ := json.Marshal(map[string]string{"region": cfg.Region, "accountId": cfg.AccountID})
	return &Handler{files: sub, config: b}
}

// Owns reports whether path belongs to the console, so the server can route
// it before the API dispatch.
func Owns(p string) bool { return p == "/console" || strings.HasPrefix(p, Prefix) }

// contentTypes is fixed here rather than taken from the system's MIME
// tables, so a machine's /etc/mime.types cannot change what a browser is
// told (a module script served as text/plain does not run).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".png":  "image/png",
}

// ServeHTTP serves GET and HEAD of the embedded files.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	// The files change with the binary; revalidating costs little and
	// an upgrade is never mixed with a cached old module.
	hd.Set("Cache-Control", "no-cache")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "The console serves static files only (GET, HEAD); API calls go to / signed with SigV4.", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/console" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = "index.html"
	}
	var body []byte
	switch {
	case name == "config.json":
		body = h.config
	case !fs.ValidPath(name) || strings.HasPrefix(path.Base(name), "."):
		http.NotFound(w, r)
		return
	default:
		b, err := fs.ReadFile(h.files, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		body = b
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", ct)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}
