package e2e

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/store/postgres/pgtest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulwark-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bulwark")
	build := exec.Command("go", "build", "-o", binary, "../cmd/bulwark")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bulwark:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	devKeyID  = "AKIAE2ETESTROOT00000"
	devSecret = "e2e-test-secret-access-key-0123456789abc"
)

// proc is a running bulwark process.
type proc struct {
	cmd      *exec.Cmd
	endpoint string
	dataDir  string
	mu       sync.Mutex
	stdout   strings.Builder
	done     chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startDev runs `bulwark server --dev` on dataDir and waits for /healthz.
func startDev(t *testing.T, dataDir string, extra ...string) *proc {
	t.Helper()
	return startDevWith(t, dataDir, devKeyID, devSecret, extra...)
}

// startDevWith is startDev with given root credentials.
func startDevWith(t *testing.T, dataDir, keyID, secret string, extra ...string) *proc {
	t.Helper()
	addr := freePort(t)
	args := append([]string{"server", "--dev", "--listen", addr, "--data-dir", dataDir,
		"--dev-access-key-id", keyID, "--dev-secret-access-key", secret}, extra...)
	p := &proc{cmd: exec.Command(binary, args...), endpoint: "http://" + addr, dataDir: dataDir, done: make(chan error, 1)}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Standard error is kept apart from standard output (tests parse the
	// latter) and shown when the server does not come up.
	var stderr lockedBuffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	if testwait.Until(20*time.Second, func() bool {
		resp, err := http.Get(p.endpoint + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		return p
	}
	t.Fatalf("server did not become healthy; output:\n%s\nstandard error:\n%s", p.output(), stderr.String())
	return nil
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

func (p *proc) awsConfig() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(devKeyID, devSecret, ""),
		BaseEndpoint: aws.String(p.endpoint),
		Retryer:      servertest.ClientRaceRetryer,
	}
}

func (p *proc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %v", timeout)
		return nil
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func staticCreds(id, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret, "")
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func parsePEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not PEM: %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lockedBuffer is an io.Writer safe for a process's output goroutine and a
// test reading it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
