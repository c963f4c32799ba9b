package renewer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/certsync/certsynctest"
	"github.com/bulwarkd/bulwark/internal/renewer"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

const apiKey = "renewer-test-api-key-0123456789"

// certLife is short enough that ACM announces approaching expiry from day
// one (DaysBeforeExpiry 45) and long enough that its own managed renewal
// (a third of the lifetime left, 10 days) comes after ours (half: 15 days).
const certLife = "720h"

type fixture struct {
	srv      *servertest.Server
	acm      *acm.Client
	sm       *secretsmanager.Client
	cert     string
	r        *renewer.Renewer
	url      string
	mu       sync.Mutex
	received [][]byte
}

// newFixture starts a server, a certificate exported to prefix "gw", and
// a renewer bound to it, serving over HTTP with an API key. acmCfg and
// smCfg, if set, are the renewer's own credentials.
func newFixture(t *testing.T, renewerCfg func(f *fixture) aws.Config) *fixture {
	t.Helper()
	srv := servertest.Start(t)
	cfg := srv.AWSConfig()
	pki := certsynctest.NewPKI(t, cfg, "Gateway", true)
	f := &fixture{srv: srv, acm: acm.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg)}
	f.cert = pki.Request(t, cfg, "colorgateway.mesh.local", certLife)
	if _, err := certsync.Export(context.Background(), f.acm, f.sm, certsync.ExportInput{CertificateARN: f.cert, SecretPrefix: "gw"}); err != nil {
		t.Fatal(err)
	}
	rcfg := cfg
	if renewerCfg != nil {
		rcfg = renewerCfg(f)
	}
	r, err := renewer.New(renewer.Config{
		ACM: acm.NewFromConfig(rcfg), Secrets: secretsmanager.NewFromConfig(rcfg),
		Bindings: []renewer.Binding{{CertificateARN: f.cert, SecretPrefixes: []string{"gw"}}},
		Auth:     renewer.Auth{HeaderName: "x-api-key", HeaderValue: apiKey},
		Now:      srv.Clock.Now, PollInitial: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	h := r.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.Method == http.MethodPost {
			f.mu.Lock()
			f.received = append(f.received, body)
			f.mu.Unlock()
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

func (f *fixture) serial(t *testing.T) string {
	t.Helper()
	d, err := f.acm.DescribeCertificate(context.Background(), &acm.DescribeCertificateInput{CertificateArn: &f.cert})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(d.Certificate.Serial)
}

func (f *fixture) status() renewer.CertStatus { return f.r.Status().Certificates[0] }

func (f *fixture) versions(t *testing.T, name string) int {
	t.Helper()
	out, err := f.sm.ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{SecretId: &name, IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions)
}

// routeEvents sends ACM's approaching-expiration events to the renewer
// through an API destination whose connection adds the API key.
func (f *fixture) routeEvents(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(f.srv.AWSConfig())
	conn, err := eb.CreateConnection(ctx, &eventbridge.CreateConnectionInput{
		Name: aws.String("renewer"), AuthorizationType: ebtypes.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &ebtypes.CreateConnectionAuthRequestParameters{ApiKeyAuthParameters: &ebtypes.CreateConnectionApiKeyAuthRequestParameters{
			ApiKeyName: aws.String("x-api-key"), ApiKeyValue: aws.String(apiKey)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dest, err := eb.CreateApiDestination(ctx, &eventbridge.CreateApiDestinationInput{
		Name: aws.String("renewer"), ConnectionArn: conn.ConnectionArn, InvocationEndpoint: aws.String(f.url + "/events"),
		HttpMethod: ebtypes.ApiDestinationHttpMethodPost,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("cert-expiry"),
		EventPattern: aws.String(`{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("cert-expiry"),
		Targets: []ebtypes.Target{{Id: aws.String("renewer"), Arn: dest.ApiDestinationArn}}}); err != nil {
		t.Fatal(err)
	}
}

// tickAndDeliver runs ACM's expiry pass and delivers what it published.
func (f *fixture) tickAndDeliver(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := f.srv.ACM().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Events().DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) post(t *testing.T, body []byte, key string) (int, renewer.EventResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.url+"/events", bytes.NewReader(body))
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out renewer.EventResponse
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestRenewalEndToEnd: expiry event → renewer → renewal → new secret
// versions → fetch --watch rewrites the files with the new serial; the
// same event again, and the next days' events, renew nothing more.
func TestRenewalEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.routeEvents(t)
	oldSerial := f.serial(t)

	dir := t.TempDir()
	changes := make(chan *certsync.Bundle, 4)
	w := &certsync.Watcher{Secrets: f.sm, Prefix: "gw", Writer: &certsync.Writer{Dir: dir}, Interval: 20 * time.Millisecond,
		OnChange: func(b *certsync.Bundle) { changes <- b }}
	if _, err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if b := <-changes; b.Serial != oldSerial {
		t.Fatalf("initial fetch has %s, want %s", b.Serial, oldSerial)
	}
	go w.Run(ctx)

	// 16 of 30 days later: inside the renewer's window (15 days), not yet
	// in ACM's managed-renewal window (10 days).
	f.srv.Clock.Advance(16 * 24 * time.Hour)
	f.tickAndDeliver(t)
	st := f.status()
	if st.Renewals != 1 || st.LastAction != renewer.ActionRenewed || !strings.HasPrefix(st.LastTrigger, "event:") {
		t.Fatalf("after the event: %+v, want one renewal triggered by the event", st)
	}
	newSerial := f.serial(t)
	if newSerial == oldSerial || st.Serial != newSerial {
		t.Fatalf("serial %s → %s, status says %s", oldSerial, newSerial, st.Serial)
	}
	for _, part := range []string{"certificate", "certificate-chain", "private-key", "passphrase"} {
		if n := f.versions(t, "gw/"+part); n != 2 {
			t.Errorf("gw/%s has %d versions, want 2", part, n)
		}
	}
	select {
	case b := <-changes:
		if b.Serial != newSerial {
			t.Fatalf("watch wrote %s, want %s", b.Serial, newSerial)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fetch --watch did not pick up the renewed certificate")
	}
	cert, _, _, err := certsync.ReadCurrent(dir)
	if err != nil || !bytes.Contains(cert, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("files after the watch: %v", err)
	}

	// The same delivery again (EventBridge is at least once), a copy with
	// a new id, and the next days' daily events: no second renewal.
	f.mu.Lock()
	first := f.received[len(f.received)-1]
	f.mu.Unlock()
	if code, resp := f.post(t, first, apiKey); code != http.StatusOK || !resp.Duplicate {
		t.Errorf("same event again = %d %+v, want 200 duplicate", code, resp)
	}
	var ev map[string]any
	_ = json.Unmarshal(first, &ev)
	ev["id"] = "another-delivery"
	copyBody, _ := json.Marshal(ev)
	if code, resp := f.post(t, copyBody, apiKey); code != http.StatusOK || len(resp.Results) != 1 || resp.Results[0].Action != renewer.ActionNone {
		t.Errorf("same event under a new id = %d %+v, want 200 and no action", code, resp)
	}
	for range 3 {
		f.srv.Clock.Advance(24 * time.Hour)
		f.tickAndDeliver(t)
	}
	if st := f.status(); st.Renewals != 1 || f.serial(t) != newSerial {
		t.Errorf("after duplicates and daily events: %d renewals, serial %s; want 1 and %s", st.Renewals, f.serial(t), newSerial)
	}
	if n := f.versions(t, "gw/private-key"); n != 2 {
		t.Errorf("gw/private-key has %d versions after duplicates, want 2", n)
	}
	if ev := f.r.Status().Events; ev.Duplicates < 1 || ev.Received < 4 {
		t.Errorf("event counts %+v", ev)
	}
}

// TestConcurrentDeliveriesRenewOnce: ten deliveries of events for the
// same certificate at once renew it once.
func TestConcurrentDeliveriesRenewOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.Clock.Advance(16 * 24 * time.Hour)
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"version":"0","id":"ev-%d","detail-type":%q,"source":"aws.acm","resources":[%q],"detail":{"DaysToExpiry":14}}`, i, renewer.DetailApproaching, f.cert)
			codes[i], _ = f.post(t, []byte(body), apiKey)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("delivery %d: %d", i, c)
		}
	}
	if st := f.status(); st.Renewals != 1 {
		t.Errorf("%d renewals, want 1", st.Renewals)
	}
	if n := f.versions(t, "gw/certificate"); n != 2 {
		t.Errorf("gw/certificate has %d versions, want 2", n)
	}
}

// TestReconcileCoversDroppedEvent: no event arrives (no rule), the timer's
// reconciliation renews and exports; a second pass does nothing.
func TestReconcileCoversDroppedEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	if res, err := f.r.Reconcile(ctx); err != nil || res[0].Action != renewer.ActionNone {
		t.Fatalf("reconcile of a fresh certificate = %+v, %v; want no action", res[0], err)
	}
	old := f.serial(t)
	f.srv.Clock.Advance(16 * 24 * time.Hour)
	f.tickAndDeliver(t) // the event is published, but no rule routes it: dropped
	res, err := f.r.Reconcile(ctx)
	if err != nil || res[0].Action != renewer.ActionRenewed || res[0].OldSerial != old || res[0].Trigger != "reconcile" {
		t.Fatalf("reconcile = %+v, %v; want a renewal of %s", res[0], err, old)
	}
	b, err := certsync.Fetch(ctx, f.sm, "gw")
	if err != nil || b.Serial != f.serial(t) {
		t.Fatalf("secrets hold %v (%v), want the renewed %s", b, err, f.serial(t))
	}
	if res, _ := f.r.Reconcile(ctx); res[0].Action != renewer.ActionNone {
		t.Errorf("second reconcile = %+v, want no action", res[0])
	}
}

// TestReconcileExportsManagedRenewal: ACM renewed the certificate itself
// (managed renewal); the renewer does not renew again but exports the
// new certificate into the stale prefix.
func TestReconcileExportsManagedRenewal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if _, err := f.acm.RenewCertificate(context.Background(), &acm.RenewCertificateInput{CertificateArn: &f.cert}); err != nil {
		t.Fatal(err)
	}
	res, err := f.r.Reconcile(context.Background())
	if err != nil || res[0].Action != renewer.ActionExported || len(res[0].Exported) != 1 {
		t.Fatalf("reconcile = %+v, %v; want an export without renewal", res[0], err)
	}
}

// TestDeliveriesMustAuthenticate: without the key nothing is renewed.
func TestDeliveriesMustAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.Clock.Advance(16 * 24 * time.Hour)
	body := fmt.Sprintf(`{"id":"x","detail-type":%q,"source":"aws.acm","resources":[%q]}`, renewer.DetailApproaching, f.cert)
	for _, key := range []string{"", "wrong-key-wrong-key-wrong-key"} {
		if code, _ := f.post(t, []byte(body), key); code != http.StatusUnauthorized {
			t.Errorf("key %q: %d, want 401", key, code)
		}
	}
	resp, err := http.Get(f.url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/status without the key: %d", resp.StatusCode)
	}
	if st := f.status(); st.Renewals != 0 || f.r.Status().Events.Unauthorized != 3 {
		t.Errorf("status %+v, events %+v", st, f.r.Status().Events)
	}
	req, _ := http.NewRequest(http.MethodGet, f.url+"/status", nil)
	req.Header.Set("x-api-key", apiKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st renewer.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Certificates) != 1 || st.Certificates[0].CertificateARN != f.cert {
		t.Errorf("/status = %+v, %v", st, err)
	}
}

// TestRenewerLeastPrivilege runs the renewer as an IAM user holding only
// certsync.ExportPolicy: it renews and writes new versions, cannot read
// a secret value, and its log and the audit log never show key material.
func TestRenewerLeastPrivilege(t *testing.T) {
	t.Parallel()
	var userSM *secretsmanager.Client
	f := newFixture(t, func(f *fixture) aws.Config {
		ctx := context.Background()
		iam := f.srv.IAM()
		if _, err := iam.CreateUser(ctx, "renewer", "/", nil); err != nil {
			t.Fatal(err)
		}
		doc := certsync.ExportPolicy("aws", servertest.Region, servertest.AccountID, []string{f.cert}, []string{"gw"})
		if err := iam.PutUserPolicy(ctx, "renewer", "renew-and-export", doc); err != nil {
			t.Fatal(err)
		}
		k, secret, err := iam.CreateAccessKey(ctx, "renewer")
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.srv.AWSConfigFor(k.AccessKeyID, secret)
		userSM = secretsmanager.NewFromConfig(cfg)
		return cfg
	})
	ctx := context.Background()
	f.srv.Clock.Advance(16 * 24 * time.Hour)
	res, err := f.r.Reconcile(ctx)
	if err != nil || res[0].Action != renewer.ActionRenewed {
		t.Fatalf("renewer with least privilege: %+v, %v", res[0], err)
	}
	for _, name := range []string{"gw/passphrase", "gw/private-key", "gw/certificate"} {
		_, err := userSM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("renewer reads %s: %v, want AccessDenied", name, err)
		}
	}
	pass, err := f.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("gw/passphrase")})
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := os.ReadFile(filepath.Join(f.srv.DataDir, "audit.log"))
	if bytes.Contains(audit, []byte(aws.ToString(pass.SecretString))) {
		t.Error("the audit log contains the passphrase")
	}
}
