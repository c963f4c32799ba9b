package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/console"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestConsoleRoutedBeforeAPI: /console/ answers static files without a
// signature and with the console's policy, while everything else is still
// the API (an unsigned GET / is refused as before, not a console page).
func TestConsoleRoutedBeforeAPI(t *testing.T) {
	srv := servertest.Start(t)
	resp, err := http.Get(srv.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != console.CSP || !strings.Contains(string(body), `src="app.js"`) {
		t.Fatalf("GET /console/: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	for _, path := range []string{"/", "/consolex"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: %d, CSP %q: want the API's refusal", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
}
