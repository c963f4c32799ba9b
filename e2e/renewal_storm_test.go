package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/bulwarkd/bulwark/internal/certsync/certsynctest"
	"github.com/bulwarkd/bulwark/internal/renewer"
)

// TestRenewalStormDocumentedRule is issue 14 with the real binaries and
// real time: a 3-minute certificate exported with `certs
// export-to-secrets`, bound to `bulwark renewer --reconcile-interval 30s`,
// with the rule docs/lifecycle.md documents (Approaching Expiration and
// Available to the renewer). Before the fix it was renewed about a
// thousand times in 90 s; renewing at half its lifetime it is renewed
// once or twice in 3 minutes.
func TestRenewalStormDocumentedRule(t *testing.T) {
	if os.Getenv("BULWARK_SLOW_TESTS") != "1" {
		t.Skip("runs for 3 minutes of real time: set BULWARK_SLOW_TESTS=1 to run it")
	}
	const apiKey = "e2e-renewer-api-key-0123456789"
	srv := startDev(t, t.TempDir())
	cfg := srv.awsConfig()
	ctx := ctxT(t)
	pki := certsynctest.NewPKI(t, cfg, "Storm", true)
	arn := pki.Request(t, cfg, "storm.mesh.local", "3m")
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+srv.endpoint, "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret,
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "BULWARK_RENEWER_API_KEY="+apiKey)
	export := exec.Command(binary, "certs", "export-to-secrets", "--certificate-arn", arn, "--secret-prefix", "storm")
	export.Env = env
	if out, err := export.CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}

	listen := freePort(t)
	rn := exec.Command(binary, "renewer", "--listen", listen, "--bind", arn+"=storm", "--reconcile-interval", "30s")
	rn.Env = env
	rlog := &syncBuffer{}
	rn.Stderr = rlog
	if err := rn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rn.Process.Kill(); _ = rn.Wait() })

	// The documented rule (docs/lifecycle.md, "bulwark renewer").
	eb := eventbridge.NewFromConfig(cfg)
	conn, err := eb.CreateConnection(ctx, &eventbridge.CreateConnectionInput{Name: aws.String("renewer"), AuthorizationType: ebtypes.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &ebtypes.CreateConnectionAuthRequestParameters{ApiKeyAuthParameters: &ebtypes.CreateConnectionApiKeyAuthRequestParameters{
			ApiKeyName: aws.String("x-api-key"), ApiKeyValue: aws.String(apiKey)}}})
	if err != nil {
		t.Fatal(err)
	}
	dest, err := eb.CreateApiDestination(ctx, &eventbridge.CreateApiDestinationInput{Name: aws.String("renewer"), ConnectionArn: conn.ConnectionArn,
		InvocationEndpoint: aws.String("http://" + listen + "/events"), HttpMethod: ebtypes.ApiDestinationHttpMethodPost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("cert-expiry"),
		EventPattern: aws.String(`{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration","ACM Certificate Available"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("cert-expiry"),
		Targets: []ebtypes.Target{{Id: aws.String("renewer"), Arn: dest.ApiDestinationArn}}}); err != nil {
		t.Fatal(err)
	}

	// Watch the certificate for 3 minutes (sampling, not synchronising:
	// the quantity under test is a count over real time).
	ac := acm.NewFromConfig(cfg)
	serials := map[string]bool{}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if d, err := ac.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: &arn}); err == nil {
			serials[aws.ToString(d.Certificate.Serial)] = true
		}
		time.Sleep(2 * time.Second)
	}
	renewals := len(serials) - 1

	req, _ := http.NewRequest(http.MethodGet, "http://"+listen+"/status", nil)
	req.Header.Set("x-api-key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st renewer.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Certificates) != 1 {
		t.Fatalf("/status: %v %+v", err, st)
	}
	cs := st.Certificates[0]
	t.Logf("%d renewals seen (%d by the renewer), %d deliveries, %d deferred", renewals, cs.Renewals, st.Events.Received, cs.Deferred)
	if renewals < 1 || renewals > 3 || cs.Renewals > 3 {
		t.Errorf("%d renewals in 3 minutes (%d by the renewer), want 1 to 3\nrenewer log:\n%s", renewals, cs.Renewals, rlog.String())
	}
	if cs.Deferred != 0 || st.Events.Received > 20 {
		t.Errorf("guard rails tripped %d times, %d deliveries: the renewer is feeding itself", cs.Deferred, st.Events.Received)
	}
}

// syncBuffer is a bytes.Buffer a child's output can be copied into while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
