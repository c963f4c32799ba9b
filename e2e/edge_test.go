package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestEdgeAndUnprotectCommands runs `bulwark edge` with the flags-only rule
// from the README against a dev server's KMS, sends the seed's payload to
// a recording origin through it, and restores the origin's copy with
// `bulwark unprotect` reading stdin — the two commands as users run them.
func TestEdgeAndUnprotectCommands(t *testing.T) {
	p := startDev(t, t.TempDir())
	ctx := ctxT(t)
	km := kms.NewFromConfig(p.awsConfig())
	key, err := km.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := km.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/pii"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var received []byte
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = b
		mu.Unlock()
	})}
	go origin.Serve(oln)
	t.Cleanup(func() { origin.Close() })

	env := append(os.Environ(), "AWS_ENDPOINT_URL="+p.endpoint, "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret,
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	listen := freePort(t)
	edge := exec.Command(binary, "edge", "--listen", listen, "--origin", "http://"+oln.Addr().String(),
		"--key", "01=alias/pii", "--fields", "fname,lname,email,ssn,dob,phone", "--admin", "")
	edge.Env = env
	var edgeLog bytes.Buffer
	edge.Stderr = &edgeLog
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = edge.Process.Signal(syscall.SIGTERM); _ = edge.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge did not start: %s", edgeLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	payload := `[{"fname": "Alejandro", "lname": "Rosalez", "email": "alejandro@example.com", "ssn": "123-45-6789", "dob": "1980-01-01", "phone": "+1-555-0100", "id": 7}]`
	resp, err := http.Post("http://"+listen+"/people", "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	got := append([]byte(nil), received...)
	mu.Unlock()
	if resp.StatusCode != 200 || bytes.Contains(got, []byte("123-45-6789")) || bytes.Contains(got, []byte("Rosalez")) {
		t.Fatalf("edge answered %d and the origin got %s", resp.StatusCode, got)
	}
	if n := len(regexp.MustCompile(`#01#[A-Za-z0-9+/=]+#10#`).FindAll(got, -1)); n != 6 {
		t.Fatalf("%d seed-format tokens at the origin, want 6: %s", n, got)
	}

	un := exec.Command(binary, "unprotect", "--key", "01=alias/pii")
	un.Env = env
	un.Stdin = bytes.NewReader(got)
	out, err := un.Output()
	if err != nil {
		t.Fatalf("bulwark unprotect: %v", err)
	}
	if string(out) != payload {
		t.Errorf("unprotect did not restore the payload byte for byte:\n got %s\nwant %s", out, payload)
	}

	// Without kms:Decrypt nothing is written and the exit code says so.
	un = exec.Command(binary, "unprotect", "--key", "01=alias/pii")
	un.Env = append(env, "AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000")
	un.Stdin = bytes.NewReader(got)
	out, err = un.Output()
	if err == nil || len(out) != 0 {
		t.Errorf("unprotect with unknown credentials: err %v, wrote %q", err, out)
	}
}
