package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// forgedAuth is a well-formed SigV4 Authorization header with a wrong
// signature: what an attacker adds so the server reads the body (a
// request without one is refused unread).
const forgedAuth = "AWS4-HMAC-SHA256 Credential=AKIAFORGED0000000000/20260101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0000000000000000000000000000000000000000000000000000000000000000"

// slowConn opens a connection that sends request headers declaring a
// body of declared bytes, then sends nothing more: the slow-body attack.
func slowConn(t *testing.T, addr string, declared int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Type: application/x-amz-json-1.1\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", forgedAuth, declared)
	return c
}

// closedByServer reports whether the server closed c, waiting up to a
// bound that only a broken server reaches.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	_, body := get(t, url+"/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestConnectionCapShedsOldestUnauthenticated fills the connection cap
// with slow unauthenticated connections (and more): the oldest are
// closed, the cap holds, and a signed call is still served.
func TestConnectionCapShedsOldestUnauthenticated(t *testing.T) {
	const max, attackers = 8, 20
	srv := servertest.Start(t, func(c *server.Config) { c.MaxConnections = max })
	addr := srv.URL[len("http://"):]
	conns := make([]net.Conn, attackers)
	for i := range conns {
		conns[i] = slowConn(t, addr, 1<<20)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := kms.NewFromConfig(srv.AWSConfig()).ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("a signed call during the flood: %v", err)
	}
	// Accepted in order, so the signed call's connection made the server
	// close at least the first attackers-max+1.
	for i := range attackers - max + 1 {
		if !closedByServer(conns[i]) {
			t.Fatalf("slow connection %d (of the oldest) is still open", i)
		}
	}
	if open := metricValue(t, srv.URL, "bulwark_connections_open"); open > max {
		t.Errorf("%v connections open, cap %d", open, max)
	}
	if shed := metricValue(t, srv.URL, "bulwark_connections_shed_total"); shed < attackers-max+1 {
		t.Errorf("shed %v connections, want at least %d", shed, attackers-max+1)
	}
}

// TestConnectionCapSparesAuthenticatedWork: connections whose requests
// are authenticated and running are not shed; a newcomer is refused
// instead.
func TestConnectionCapSparesAuthenticatedWork(t *testing.T) {
	const max = 2
	release := make(chan struct{})
	started := make(chan struct{}, max)
	svc := &api.Service{
		Name: "blocker", EventSource: "blocker.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "Blocker",
		Operations: map[string]api.Operation{"Wait": {NoAuthz: true, Handler: func(ctx context.Context, c *api.Call) (any, error) {
			started <- struct{}{}
			<-release
			return struct{}{}, nil
		}}},
	}
	srv := servertest.Start(t, func(c *server.Config) {
		c.MaxConnections = max
		c.ExtraServices = append(c.ExtraServices, svc)
	})
	defer close(release)
	results := make(chan error, max)
	for range max {
		req := signedRequest(t, srv, "blocker", "Blocker.Wait", "application/x-amz-json-1.1", []byte("{}"))
		go func() {
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			results <- err
		}()
	}
	for range max {
		<-started
	}
	late := slowConn(t, srv.URL[len("http://"):], 10)
	if !closedByServer(late) {
		t.Fatal("a new connection was kept although every slot serves authenticated work")
	}
	release <- struct{}{}
	release <- struct{}{}
	for range max {
		if err := <-results; err != nil {
			t.Errorf("an authenticated call was cut off: %v", err)
		}
	}
}

// TestUnauthenticatedBodyBudget: while unauthenticated bodies fill the
// budget, a further large body is refused with a retryable 503, and a
// small signed call is still served.
func TestUnauthenticatedBodyBudget(t *testing.T) {
	const budget, freeBytes = 1 << 20, 4 << 10
	srv := servertest.Start(t, func(c *server.Config) {
		c.MaxBodyBytes = budget
		c.MaxUnauthenticatedBodyBytes = budget
	})
	addr := srv.URL[len("http://"):]
	// Sends 600 KiB of a 1 MiB body and stalls: the server's buffer for
	// it has doubled to the whole budget, held until the read times out.
	hog := slowConn(t, addr, budget)
	if _, err := hog.Write(make([]byte, 600<<10)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for metricValue(t, srv.URL, "bulwark_unauthenticated_body_bytes") < budget-freeBytes && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond) // polling the server's own gauge
	}
	status := 0
	for range 3 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", bytes.NewReader(make([]byte, 64<<10)))
		req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		req.Header.Set("Authorization", forgedAuth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		status = resp.StatusCode
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if status != http.StatusServiceUnavailable || resp.Header.Get("X-Amzn-Errortype") != "ServiceUnavailable" {
			t.Fatalf("a large unauthenticated body while the budget is full: %d %v, want a retryable 503", status, resp.Header)
		}
	}
	if _, err := kms.NewFromConfig(srv.AWSConfig()).ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("a small signed call while the budget is full: %v", err)
	}
	if shed := metricValue(t, srv.URL, "bulwark_requests_shed_total"); shed < 1 {
		t.Errorf("refusal not counted: %v", shed)
	}
}

// TestCBORSignatureCheckedBeforeDecoding: an unsigned or badly signed
// RPC v2 body, malformed or a bomb, is refused for its signature, never
// decoded; a signed bomb is refused by the decoding bounds.
func TestCBORSignatureCheckedBeforeDecoding(t *testing.T) {
	srv := servertest.Start(t)
	bomb := append([]byte{0x9a, 0x00, 0x0f, 0xff, 0xf0}, bytes.Repeat([]byte{0x80}, 0xffff0)...)
	tests := []struct {
		name     string
		body     []byte
		sign     bool
		wantCode string
	}{
		{"unsigned malformed", []byte{0xbf, 0x61}, false, "MissingAuthenticationTokenException"},
		{"unsigned bomb", bomb, false, "MissingAuthenticationTokenException"},
		{"signed bomb", bomb, true, "SerializationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/service/TrentService/operation/ListKeys", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
			req.Header.Set("Content-Type", "application/cbor")
			if tc.sign {
				sum := sha256.Sum256(tc.body)
				creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
				if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", servertest.Region, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(bufio.NewReader(resp.Body))
			v, err := cbor.Decode(b)
			if err != nil {
				t.Fatalf("not CBOR: %x", b)
			}
			if got := v.(cbor.Map)["__type"]; got != cbor.String(tc.wantCode) {
				t.Errorf("got %d %v, want %s", resp.StatusCode, got, tc.wantCode)
			}
		})
	}
}

// TestShutdownBeforeServe: a signal during start-up, before Serve runs,
// must still stop the server rather than leave Serve running forever.
func TestShutdownBeforeServe(t *testing.T) {
	srv, err := server.New(server.Config{DataDir: t.TempDir(), MasterKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept running after Shutdown")
	}
}

// TestUnsignedBodyNotRead: a request without a signature is refused
// without waiting for (or holding) its body.
func TestUnsignedBodyNotRead(t *testing.T) {
	srv := servertest.Start(t)
	c, err := net.Dial("tcp", srv.URL[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n", 1<<20)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-Errortype") != "MissingAuthenticationTokenException" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Header)
	}
}
