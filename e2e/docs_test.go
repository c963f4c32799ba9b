package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Runnable documentation.
//
// A shell block of README.md or docs/*.md is run by TestDocsRunAsWritten
// when the line right before its fence is the marker
//
//	<!-- runnable -->
//	<!-- runnable ports=8080,9080 -->
//
// and the fence is ```sh or ```bash. Every runnable block of one document
// runs, in order, as one bash -euo pipefail script from the repository
// root against a fresh dev server started by the test, with
//
//   - AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY = the README's dev
//     credentials, AWS_DEFAULT_REGION / AWS_REGION = us-east-1,
//     AWS_ENDPOINT_URL = the server;
//   - "127.0.0.1:4566", the dev server's default address, replaced by
//     the server's address (the test picks a free port);
//   - HOME and TMPDIR a new directory per document (the server's data
//     directory is $TMPDIR/bulwark-dev-docs);
//   - `go run ./cmd/bulwark ...` running the binary the suite built
//     (the same source, without compiling again), also on PATH as bulwark.
//
// ports= lists fixed ports the blocks listen on: the document is skipped,
// saying so, when one of them is taken. Background jobs are killed when
// the script ends, and the whole process group when it times out.

// devDocKeyID and devDocSecret are the credentials README.md shows.
const (
	devDocKeyID  = "AKIADEVEXAMPLE000000"
	devDocSecret = "dev-secret-example-0123456789"
	devDocAddr   = "127.0.0.1:4566"
)

// docBlock is one runnable shell block.
type docBlock struct {
	Line  int // line of the opening fence, 1-based
	Ports []int
	Text  string
}

var runnableMarker = regexp.MustCompile(`^<!--\s*runnable(\s+[^>]*?)?\s*-->\s*$`)

// runnableBlocks returns the runnable blocks of a Markdown document. A
// marker that is not followed by a shell fence, a fence left open and a
// malformed attribute are errors: a marker that marks nothing would let
// a block drift unnoticed.
func runnableBlocks(doc string) ([]docBlock, error) {
	lines := strings.Split(doc, "\n")
	var out []docBlock
	for i := 0; i < len(lines); i++ {
		m := runnableMarker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			if strings.Contains(lines[i], "<!--") && strings.Contains(lines[i], "runnable") {
				return nil, fmt.Errorf("line %d: malformed runnable marker %q", i+1, lines[i])
			}
			continue
		}
		b := docBlock{}
		for _, attr := range strings.Fields(m[1]) {
			k, v, ok := strings.Cut(attr, "=")
			if !ok || k != "ports" {
				return nil, fmt.Errorf("line %d: unknown runnable attribute %q (known: ports=N,N)", i+1, attr)
			}
			for _, p := range strings.Split(v, ",") {
				n, err := strconv.Atoi(p)
				if err != nil || n < 1 || n > 65535 {
					return nil, fmt.Errorf("line %d: bad port %q", i+1, p)
				}
				b.Ports = append(b.Ports, n)
			}
		}
		if i+1 >= len(lines) {
			return nil, fmt.Errorf("line %d: runnable marker at the end of the document", i+1)
		}
		fence := strings.TrimSpace(lines[i+1])
		if fence != "```sh" && fence != "```bash" {
			return nil, fmt.Errorf("line %d: runnable marker not followed by a ```sh or ```bash fence (got %q)", i+1, fence)
		}
		b.Line = i + 2
		var body []string
		closed := false
		for i += 2; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == "```" {
				closed = true
				break
			}
			body = append(body, lines[i])
		}
		if !closed {
			return nil, fmt.Errorf("line %d: runnable block is never closed", b.Line)
		}
		b.Text = strings.Join(body, "\n") + "\n"
		out = append(out, b)
	}
	return out, nil
}

// TestRunnableBlockParsing covers the marker grammar, errors included.
func TestRunnableBlockParsing(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		want    []docBlock
		wantErr string
	}{
		{name: "unmarked blocks are not run", doc: "```sh\necho no\n```\n"},
		{name: "marked sh block", doc: "text\n<!-- runnable -->\n```sh\necho a\necho b\n```\n",
			want: []docBlock{{Line: 3, Text: "echo a\necho b\n"}}},
		{name: "bash fence and ports", doc: "<!-- runnable ports=8080,9901 -->\n```bash\ntrue\n```\n",
			want: []docBlock{{Line: 2, Ports: []int{8080, 9901}, Text: "true\n"}}},
		{name: "two blocks in order", doc: "<!-- runnable -->\n```sh\none\n```\nx\n<!-- runnable -->\n```sh\ntwo\n```",
			want: []docBlock{{Line: 2, Text: "one\n"}, {Line: 7, Text: "two\n"}}},
		{name: "marker before a yaml block", doc: "<!-- runnable -->\n```yaml\na: 1\n```\n", wantErr: "not followed by"},
		{name: "marker with a blank line", doc: "<!-- runnable -->\n\n```sh\nx\n```\n", wantErr: "not followed by"},
		{name: "marker at the end", doc: "<!-- runnable -->", wantErr: "end of the document"},
		{name: "unclosed block", doc: "<!-- runnable -->\n```sh\nx\n", wantErr: "never closed"},
		{name: "unknown attribute", doc: "<!-- runnable timeout=5 -->\n```sh\nx\n```\n", wantErr: "unknown runnable attribute"},
		{name: "bad port", doc: "<!-- runnable ports=99999 -->\n```sh\nx\n```\n", wantErr: "bad port"},
		{name: "misspelt marker", doc: "<!-- runnable: -->\n```sh\nx\n```\n", wantErr: "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runnableBlocks(tc.doc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// docFiles returns README.md and docs/*.md, relative to the repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return append([]string{"../README.md"}, files...)
}

// TestDocsMarkRunnableQuickStarts keeps the markers on the quick starts:
// losing one would silently stop running them. Not slow: parsing only.
func TestDocsMarkRunnableQuickStarts(t *testing.T) {
	want := map[string]int{"README.md": 2, "appmesh.md": 1, "proxy.md": 1, "lifecycle.md": 1, "pki.md": 2, "operations.md": 1}
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := runnableBlocks(string(b))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if n, ok := want[filepath.Base(f)]; ok && len(blocks) < n {
			t.Errorf("%s: %d runnable blocks, want at least %d", f, len(blocks), n)
		}
	}
}

// TestDocsRunAsWritten runs every document's runnable blocks (see above).
func TestDocsRunAsWritten(t *testing.T) {
	if os.Getenv("BULWARK_SLOW_TESTS") != "1" {
		t.Skip("runs the documentation's shell blocks against fresh servers (minutes): set BULWARK_SLOW_TESTS=1 to run it")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := runnableBlocks(string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(blocks) == 0 {
			continue
		}
		rel, _ := filepath.Rel(root, mustAbs(t, f))
		t.Run(rel, func(t *testing.T) { runDoc(t, root, rel, blocks) })
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// docScript is the script run for one document's blocks.
func docScript(name string, blocks []docBlock, addr string) string {
	var s strings.Builder
	s.WriteString(`set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
# "go run ./cmd/bulwark" runs the binary the test suite built from the same tree.
go() {
  if [ "${1-}" = run ] && [ "${2-}" = ./cmd/bulwark ]; then shift 2; "$BULWARK_BIN" "$@"
  else command go "$@"; fi
}
`)
	for i, b := range blocks {
		fmt.Fprintf(&s, "echo '=== %s block %d (line %d)' >&2\n", name, i+1, b.Line)
		s.WriteString(strings.ReplaceAll(b.Text, devDocAddr, addr))
	}
	return s.String()
}

// goEnv returns `go env NAME` of the test's toolchain: the documents run
// with another HOME, and must still find the build and module caches.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func runDoc(t *testing.T, root, name string, blocks []docBlock) {
	var needPorts []int
	for _, b := range blocks {
		needPorts = append(needPorts, b.Ports...)
	}
	for _, p := range needPorts {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			t.Skipf("%s listens on port %d, which is taken on this machine: %v", name, p, err)
		}
		ln.Close()
	}
	var script strings.Builder
	for _, b := range blocks {
		script.WriteString(b.Text)
	}
	for _, tool := range []string{"aws", "openssl", "curl"} {
		if regexp.MustCompile(`(^|[\s(|$])` + tool + `\s`).MatchString(script.String()) {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s uses %s, which is not installed (.ci/run installs it)", name, tool)
			}
		}
	}

	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	p := startDevWith(t, filepath.Join(tmp, "bulwark-dev-docs"), devDocKeyID, devDocSecret)
	addr := strings.TrimPrefix(p.endpoint, "http://")
	path := filepath.Join(tmp, "script.sh")
	if err := os.WriteFile(path, []byte(docScript(name, blocks, addr)), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", path)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout, kill the whole group: background jobs included.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = docEnv(t, home, tmp, p.endpoint)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	// Whatever happened, nothing the document started outlives it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s did not finish within the timeout; output:\n%s", name, tail(out.String(), 8000))
		}
		t.Fatalf("%s: %v; output:\n%s", name, err, tail(out.String(), 8000))
	}
	t.Logf("%s ran; output:\n%s", name, tail(out.String(), 3000))
}

// docEnv is the documents' environment: the test's, minus anything AWS
// or Bulwark it may carry, plus the dev server's settings.
func docEnv(t *testing.T, home, tmp, endpoint string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BULWARK_") || k == "HOME" || k == "TMPDIR" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home, "TMPDIR="+tmp,
		"GOCACHE="+goEnv(t, "GOCACHE"), "GOMODCACHE="+goEnv(t, "GOMODCACHE"), "GOPATH="+goEnv(t, "GOPATH"),
		"AWS_ACCESS_KEY_ID="+devDocKeyID, "AWS_SECRET_ACCESS_KEY="+devDocSecret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL="+endpoint, "AWS_PAGER=",
		"BULWARK_BIN="+binary, "PATH="+filepath.Dir(binary)+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
}

// tail returns at most the last n bytes of s, from a line start.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}
