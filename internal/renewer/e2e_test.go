package renewer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	pki      *certsynctest.PKI
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
	return newFixtureLife(t, certLife, renewerCfg)
}

// newFixtureLife is newFixture with a certificate valid for life.
func newFixtureLife(t *testing.T, life string, renewerCfg func(f *fixture) aws.Config) *fixture {
	t.Helper()
	srv := servertest.Start(t)
	cfg := srv.AWSConfig()
	pki := certsynctest.NewPKI(t, cfg, "Gateway", true)
	f := &fixture{srv: srv, pki: pki, acm: acm.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg)}
	f.cert = pki.Request(t, cfg, "colorgateway.mesh.local", life)
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
		Clock:    srv.Clock, PollInitial: 10 * time.Millisecond,
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

// documentedPattern is the rule docs/lifecycle.md tells users to create:
// approaching-expiration events and ACM's own renewals both go to the
// renewer.
const documentedPattern = `{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration","ACM Certificate Available"]}`

// routeEvents sends ACM's events (documentedPattern) to the renewer
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
		EventPattern: aws.String(documentedPattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("cert-expiry"),
		Targets: []ebtypes.Target{{Id: aws.String("renewer"), Arn: dest.ApiDestinationArn}}}); err != nil {
		t.Fatal(err)
	}
}

// tickAndDeliver runs ACM's expiry pass and delivers what it published,
// and what handling that published (a renewal's "Available"): DeliverDue
// returns only once the bus is quiet, so a renewer feeding itself shows
// as a timeout.
func (f *fixture) tickAndDeliver(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.srv.ACM().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Events().DeliverDue(ctx); err != nil {
		t.Fatalf("delivering events: %v (a renewer renewing on its own events never lets the bus go quiet)", err)
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
	if st.Renewals != 1 || !strings.HasPrefix(st.LastTrigger, "event:") {
		t.Fatalf("after the event: %+v, want one renewal triggered by the event", st)
	}
	// The renewal's own "ACM Certificate Available" came back (the
	// documented rule routes it) and changed nothing.
	f.mu.Lock()
	delivered := len(f.received)
	f.mu.Unlock()
	if delivered != 2 || st.LastAction != renewer.ActionNone {
		t.Fatalf("%d deliveries, last action %s; want the expiry event and the renewal's Available, the latter doing nothing", delivered, st.LastAction)
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
	first := f.received[0]
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

// TestRenewalCyclesWithInjectedClock is issue 14's storm, driven by the
// server's clock: certificates of 2 minutes, 1 hour and 13 months, the
// documented rule (Approaching Expiration and Available both routed to
// the renewer), ACM's expiry pass, deliveries and the renewer's
// reconciliation at every step, over three lifetimes. The certificate
// never expires, and it is renewed about once per cycle — by the renewer
// at half its lifetime, or by ACM's managed renewal (60 days ahead) for
// the 13-month one — never on its own Available events.
func TestRenewalCyclesWithInjectedClock(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for _, tc := range []struct {
		life time.Duration
		// cycle is the expected time between renewals.
		cycle time.Duration
	}{
		{2 * time.Minute, time.Minute},
		{time.Hour, 30 * time.Minute},
		{395 * day, 395*day - acmManagedWindow},
	} {
		t.Run(tc.life.String(), func(t *testing.T) {
			t.Parallel()
			f := newFixtureLife(t, tc.life.String(), nil)
			f.routeEvents(t)
			ctx := context.Background()
			step := tc.life / 24
			serials := map[string]bool{f.serial(t): true}
			total := 3 * tc.life
			for elapsed := time.Duration(0); elapsed < total; elapsed += step {
				f.srv.Clock.Advance(step)
				f.tickAndDeliver(t)
				if _, err := f.r.Reconcile(ctx); err != nil {
					t.Fatalf("reconcile at %v: %v", elapsed+step, err)
				}
				d, err := f.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: &f.cert})
				if err != nil {
					t.Fatal(err)
				}
				if now := f.srv.Clock.Now(); !now.Before(*d.Certificate.NotAfter) {
					t.Fatalf("at %v the certificate expired (NotAfter %v, now %v)", elapsed+step, d.Certificate.NotAfter, now)
				}
				serials[aws.ToString(d.Certificate.Serial)] = true
			}
			renewals := len(serials) - 1
			// One renewal per cycle; a step of slack per cycle can only
			// lengthen it.
			lo, hi := int(total/(tc.cycle+step)), int(total/tc.cycle)
			if renewals < lo || renewals > hi {
				t.Errorf("%d renewals in %v, want %d to %d (one per %v)", renewals, total, lo, hi, tc.cycle)
			}
			st := f.r.Status()
			if cs := st.Certificates[0]; cs.Deferred != 0 || cs.Renewals > renewals {
				t.Errorf("renewer status %+v: guard rails tripped or renewals miscounted (certificate renewed %d times)", cs, renewals)
			}
			b, err := certsync.Fetch(ctx, f.sm, "gw")
			if err != nil || b.Serial != f.serial(t) {
				t.Errorf("secrets hold %v (%v), want the current certificate %s", b, err, f.serial(t))
			}
		})
	}
}

// acmManagedWindow is ACM's managed-renewal window (acm.DefaultRenewalWindow).
const acmManagedWindow = 60 * 24 * time.Hour

// TestOnlyExpiryEventsRenew: for a certificate inside its window, the
// events that say it is expiring renew it, an "ACM Certificate Available"
// (what every renewal emits, the renewer's own included) only exports.
func TestOnlyExpiryEventsRenew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		detailType string
		renews     bool
	}{
		{renewer.DetailApproaching, true},
		{renewer.DetailExpired, true},
		{renewer.DetailAvailable, false},
	} {
		t.Run(tc.detailType, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			f.srv.Clock.Advance(16 * 24 * time.Hour)
			body := fmt.Sprintf(`{"id":"ev-1","detail-type":%q,"source":"aws.acm","resources":[%q],"detail":{}}`, tc.detailType, f.cert)
			code, resp := f.post(t, []byte(body), apiKey)
			if code != http.StatusOK || len(resp.Results) != 1 {
				t.Fatalf("delivery = %d %+v", code, resp)
			}
			if renewed := resp.Results[0].Action == renewer.ActionRenewed; renewed != tc.renews {
				t.Errorf("action %s, want renewed = %v", resp.Results[0].Action, tc.renews)
			}
			// Whatever came first, a second Available renews nothing.
			body = fmt.Sprintf(`{"id":"ev-2","detail-type":%q,"source":"aws.acm","resources":[%q],"detail":{}}`, renewer.DetailAvailable, f.cert)
			if code, resp := f.post(t, []byte(body), apiKey); code != http.StatusOK || resp.Results[0].Action == renewer.ActionRenewed {
				t.Errorf("Available after it = %d %+v, want no renewal", code, resp)
			}
		})
	}
}

// TestRateLimitDefersRenewals: with a budget of one renewal a minute and
// two certificates due, one is renewed and the other deferred — counted,
// logged, answered 503 to a delivery so EventBridge retries — and renewed
// once the bucket has refilled.
func TestRateLimitDefersRenewals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cfg := f.srv.AWSConfig()
	second := f.pki.Request(t, cfg, "colorteller.mesh.local", certLife)
	var logs bytes.Buffer
	var logMu sync.Mutex
	r, err := renewer.New(renewer.Config{
		ACM: acm.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg),
		Bindings: []renewer.Binding{{CertificateARN: f.cert}, {CertificateARN: second}},
		Auth:     renewer.Auth{HeaderName: "x-api-key", HeaderValue: apiKey},
		Clock:    f.srv.Clock, PollInitial: 10 * time.Millisecond, MaxRenewalsPerMinute: 1, Concurrency: 1,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f.srv.Clock.Advance(16 * 24 * time.Hour)
	res, err := r.Reconcile(ctx)
	if !errors.Is(err, renewer.ErrRateLimited) {
		t.Fatalf("reconcile error %v, want ErrRateLimited", err)
	}
	var deferred string
	for _, x := range res {
		if x.Action == renewer.ActionDeferred && x.Guard == renewer.GuardRateLimit {
			deferred = x.CertificateARN
		}
	}
	if deferred == "" || (res[0].Action == renewer.ActionRenewed) == (res[1].Action == renewer.ActionRenewed) {
		t.Fatalf("results %+v %+v, want one renewed and one deferred by the rate limit", res[0], res[1])
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "guard=rate_limit") {
		t.Errorf("no log line for the tripped guard:\n%s", logs.String())
	}
	logMu.Unlock()

	hs := httptest.NewServer(r.Handler())
	defer hs.Close()
	body := fmt.Sprintf(`{"id":"ev-1","detail-type":%q,"source":"aws.acm","resources":[%q]}`, renewer.DetailApproaching, deferred)
	req, _ := http.NewRequest(http.MethodPost, hs.URL, strings.NewReader(body))
	req.Header.Set("x-api-key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("delivery while rate limited: %d, want 503 (retried by EventBridge)", resp.StatusCode)
	}
	if got := scrape(t, hs.URL, apiKey); !strings.Contains(got, renewer.MetricGuardTrips+`{guard="rate_limit"} 2`) ||
		!strings.Contains(got, renewer.MetricRenewals+" 1") {
		t.Errorf("metrics after two deferrals and one renewal:\n%s", got)
	}
	if got := scrape(t, hs.URL, ""); got != "401" {
		t.Errorf("/metrics without the key: %s, want 401", got)
	}

	f.srv.Clock.Advance(time.Minute)
	res, err = r.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.CertificateARN == deferred && x.Action != renewer.ActionRenewed {
			t.Errorf("a minute later %s: %+v, want renewed", deferred, x)
		}
	}
}

// scrape returns /metrics, or the status code when it is not 200.
func scrape(t *testing.T, base, key string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprint(resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
