package demo

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bulwarkd/bulwark/internal/server"
)

// env is the running server and what the demo knows about it.
type env struct {
	srv      *server.Server
	endpoint string
	xds      string // the xDS listener (plaintext, loopback)
	dir      string
	rootID   string
	rootKey  string
	done     chan error
}

// startServer runs a Bulwark server with embedded storage on a loopback
// port, as `bulwark server --dev` would.
func startServer(dir string) (*env, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	e := &env{endpoint: "http://" + ln.Addr().String(), dir: dir, done: make(chan error, 1),
		rootID: "AKIA" + base32.StdEncoding.EncodeToString(b[:10]), rootKey: base64.RawStdEncoding.EncodeToString(b[10:])}
	e.srv, err = server.New(server.Config{
		DataDir: dir, MasterKey: key, PublicURL: e.endpoint,
		RootAccessKeyID: e.rootID, RootSecretAccessKey: e.rootKey,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	xln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	e.xds = xln.Addr().String()
	go func() { _ = e.srv.ServeXDS(xln, nil) }()
	go func() { e.done <- e.srv.Serve(ln) }()
	return e, nil
}

func (e *env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
	<-e.done
	_ = e.srv.Close()
}

// config returns SDK configuration for an access key against the server.
func (e *env) config(id, secret string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		BaseEndpoint: aws.String(e.endpoint),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	}
}

func (e *env) rootConfig() aws.Config { return e.config(e.rootID, e.rootKey) }

func tempDir() (string, error) { return os.MkdirTemp("", "bulwark-demo-") }
