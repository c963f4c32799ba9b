// Package servertest starts a whole Bulwark server in one call for tests:
// the real server, in-process on 127.0.0.1:0, with a temporary data dir, a
// controllable clock and root credentials, plus AWS SDK configuration
// already pointed at it. Every test of a service drives it through the
// real SDK clients this gives.
package servertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/sigv4"
)

// Root credentials of every test server.
const (
	RootAccessKeyID     = "AKIATESTROOT00000000"
	RootSecretAccessKey = "test-root-secret-access-key-0123456789ab"
	Region              = "us-east-1"
	AccountID           = "111122223333"
)

// Clock is a clock that runs with real time plus an offset tests move, so
// skew, expiry and deletion windows are tested without sleeping.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns real time plus the offset.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// NewTicker, NewTimer, After and AfterFunc wait in real time: the
// offset moves the time of day, which is what the server's checks read,
// and background loops keep their real pace.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker { return clock.Real().NewTicker(d) }

// NewTimer is clock.Real's.
func (c *Clock) NewTimer(d time.Duration) clock.Timer { return clock.Real().NewTimer(d) }

// After is clock.Real's.
func (c *Clock) After(d time.Duration) <-chan time.Time { return clock.Real().After(d) }

// AfterFunc is clock.Real's.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return clock.Real().AfterFunc(d, f)
}

// Advance moves the clock forward by d (backward if negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// Server is a running test server.
type Server struct {
	*server.Server
	URL     string
	DataDir string
	Clock   *Clock
}

// Option adjusts the server configuration before it starts.
type Option func(*server.Config)

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	clock := &Clock{}
	cfg := server.Config{
		AccountID:           AccountID,
		Region:              Region,
		DataDir:             dir,
		MasterKey:           key,
		AuditLogPath:        filepath.Join(dir, "audit.log"),
		RootAccessKeyID:     RootAccessKeyID,
		RootSecretAccessKey: RootSecretAccessKey,
		Clock:               clock,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
		_ = srv.Close()
	})
	return &Server{Server: srv, URL: "http://" + ln.Addr().String(), DataDir: dir, Clock: clock}
}

// AWSConfig returns SDK configuration for the root principal.
func (s *Server) AWSConfig() aws.Config {
	return s.AWSConfigFor(RootAccessKeyID, RootSecretAccessKey)
}

// AWSConfigFor returns SDK configuration for any access key. Retries are
// off so a test sees each error as the server sent it. Requests are signed
// with the server's clock, so a test that advances Clock by days (deletion
// windows, expiry) keeps talking to it.
func (s *Server) AWSConfigFor(accessKeyID, secret string) aws.Config {
	cfg := s.AWSConfigWallClock(accessKeyID, secret)
	cfg.APIOptions = append(cfg.APIOptions, func(st *middleware.Stack) error {
		return st.Finalize.Add(s.resignWithServerClock(cfg.Credentials), middleware.After)
	})
	return cfg
}

// AWSConfigWallClock is AWSConfigFor signing with the real clock, for tests
// of clock skew itself.
func (s *Server) AWSConfigWallClock(accessKeyID, secret string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secret, ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
		Retryer:      ClientRaceRetryer,
	}
}

// resignWithServerClock replaces the SDK's signature with one made at the
// server's time, for the same service and region.
func (s *Server) resignWithServerClock(creds aws.CredentialsProvider) middleware.FinalizeMiddleware {
	signer := v4.NewSigner()
	return middleware.FinalizeMiddlewareFunc("ResignWithServerClock", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		req, ok := in.Request.(*smithyhttp.Request)
		if !ok {
			return next.HandleFinalize(ctx, in)
		}
		scope, err := sigv4.ParseScope(req.Request)
		if err != nil {
			return next.HandleFinalize(ctx, in)
		}
		c, err := creds.Retrieve(ctx)
		if err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		req.Header.Del("Authorization")
		req.Header.Del("X-Amz-Date")
		if err := signer.SignHTTP(ctx, c, req.Request, v4.GetPayloadHash(ctx), scope.Service, scope.Region, s.Clock.Now()); err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		return next.HandleFinalize(ctx, in)
	})
}

// SignedJSONRequest builds a JSON 1.1 request for target ("TrentService.Decrypt")
// signed by the root for service ("kms") at the server's time. Benchmarks
// replay it (SigV4 allows that within the skew window) straight into
// ServeHTTP with Replay, so they measure the server alone.
func (s *Server) SignedJSONRequest(t testing.TB, service, target string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: RootAccessKeyID, SecretAccessKey: RootSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, Region, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:5555"
	return req
}

// CallJSON signs a JSON 1.1 call to target ("BulwarkAudit.LookupEvents")
// for service with the given key, as the console and any SigV4 client do,
// sends it over the network and returns the status and the decoded body.
func (s *Server) CallJSON(t testing.TB, service, target, accessKeyID, secret string, in any) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, Region, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %d %s", target, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// Replay serves a copy of a signed request (see SignedJSONRequest) and
// returns the recorded response.
func (s *Server) Replay(req *http.Request, body []byte) *httptest.ResponseRecorder {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	return rec
}

// ClientRaceRetryer retries nothing but one race inside the Go SDK's own
// transport, so the tests still see every error the server returns
// (throttling, 503s) on the first attempt. The race (aws-sdk-go-v2 issues
// 1825 and 2737): net/http writes a request body, then reads the body once
// more to check it holds no extra bytes; when the server has already
// answered, the SDK touches the same body stream, that check fails, and
// the transport closes its own connection under the response being read,
// which surfaces as "use of closed network connection" on a 200. The
// server has read the whole request and answered; the SDK's default
// retryer retries this error, and so does this one.
func ClientRaceRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, net.ErrClosed) {
				return aws.TrueTernary
			}
			return aws.FalseTernary
		})}
	})
}
