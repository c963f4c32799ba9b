package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// target is an HTTP endpoint that answers 500 to its first failures
// requests and keeps the events it accepted.
type target struct {
	mu       sync.Mutex
	failures int
	attempts int
	accepted []map[string]any
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.attempts++
	if tg.failures > 0 {
		tg.failures--
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	var ev map[string]any
	_ = json.Unmarshal(body, &ev)
	tg.accepted = append(tg.accepted, ev)
}

func (tg *target) counts() (attempts, accepted int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.attempts, len(tg.accepted)
}

func (tg *target) events() []map[string]any {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]map[string]any(nil), tg.accepted...)
}

func newTarget(t *testing.T, failures int) (*target, string) {
	tg := &target{failures: failures}
	srv := httptest.NewServer(tg)
	t.Cleanup(srv.Close)
	return tg, srv.URL
}

// deliverUntil drives delivery with the service's own hook instead of
// waiting for the background loop: each round moves the server clock a
// minute (so retries come due without sleeping through their backoff) and
// runs DeliverDue, which also waits for any pass the loop had begun. When
// it returns, every delivery due by the clock has been attempted, so a
// count checked afterwards is final, not a race with the loop.
func deliverUntil(t *testing.T, srv *servertest.Server, what string, cond func() bool) {
	t.Helper()
	for range 60 {
		if _, err := srv.Events().DeliverDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		if cond() {
			return
		}
		srv.Clock.Advance(time.Minute)
	}
	t.Fatalf("%s: not delivered within an hour of retries", what)
}

// drained moves the clock far past every backoff and runs one more
// delivery pass, failing if it attempted anything: after it, "nothing
// else arrived" is a fact, not the hope of a sleep.
func drained(t *testing.T, srv *servertest.Server) {
	t.Helper()
	srv.Clock.Advance(time.Hour)
	n, err := srv.Events().DeliverDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d more deliveries were still queued", n)
	}
}

func newClient(t *testing.T) (*servertest.Server, *eventbridge.Client) {
	srv := servertest.Start(t)
	return srv, eventbridge.NewFromConfig(srv.AWSConfig())
}

func putRuleWithTarget(t *testing.T, ctx context.Context, c *eventbridge.Client, name, pattern string, tgt types.Target) {
	t.Helper()
	if _, err := c.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []types.Target{tgt}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutTargets: %v %+v", err, out)
	}
}

func putEvent(t *testing.T, ctx context.Context, c *eventbridge.Client, source, detailType, detail string) string {
	t.Helper()
	out, err := c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(detail), Resources: []string{"arn:aws:s3:::bucket"},
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, out)
	}
	return aws.ToString(out.Entries[0].EventId)
}

func TestRuleReceivesOnlyMatchingEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := newClient(t)
	tg, url := newTarget(t, 0)
	// The target is an API destination, as on AWS.
	conn, err := c.CreateConnection(ctx, &eventbridge.CreateConnectionInput{
		Name: aws.String("hooks"), AuthorizationType: types.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &types.CreateConnectionAuthRequestParameters{ApiKeyAuthParameters: &types.CreateConnectionApiKeyAuthRequestParameters{
			ApiKeyName: aws.String("X-Key"), ApiKeyValue: aws.String("secret-value")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dest, err := c.CreateApiDestination(ctx, &eventbridge.CreateApiDestinationInput{
		Name: aws.String("orders"), ConnectionArn: conn.ConnectionArn, InvocationEndpoint: aws.String(url + "/orders"),
		HttpMethod: types.ApiDestinationHttpMethodPost,
	})
	if err != nil {
		t.Fatal(err)
	}
	putRuleWithTarget(t, ctx, c, "orders", `{"source":["com.example.shop"],"detail-type":["Order Placed"],"detail":{"total":[{"numeric":[">",100]}]}}`,
		types.Target{Id: aws.String("dest"), Arn: dest.ApiDestinationArn})

	want := putEvent(t, ctx, c, "com.example.shop", "Order Placed", `{"total":250}`)
	putEvent(t, ctx, c, "com.example.shop", "Order Placed", `{"total":5}`)
	putEvent(t, ctx, c, "com.example.shop", "Order Cancelled", `{"total":250}`)
	putEvent(t, ctx, c, "com.example.other", "Order Placed", `{"total":250}`)

	deliverUntil(t, srv, "the matching event", func() bool { _, n := tg.counts(); return n >= 1 })
	drained(t, srv)
	evs := tg.events()
	if len(evs) != 1 {
		t.Fatalf("%d events arrived, want exactly 1: %v", len(evs), evs)
	}
	ev := evs[0]
	if ev["id"] != want || ev["source"] != "com.example.shop" || ev["detail-type"] != "Order Placed" || ev["account"] != servertest.AccountID || ev["region"] != servertest.Region || ev["version"] != "0" {
		t.Errorf("envelope = %v", ev)
	}
	if d, _ := ev["detail"].(map[string]any); d["total"] != float64(250) {
		t.Errorf("detail = %v", ev["detail"])
	}
	// The connection's API key reaches neither the audit log nor the
	// database file in the clear.
	audit, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil || !bytes.Contains(audit, []byte(`"ApiKeyValue":"HIDDEN_DUE_TO_SECURITY_REASONS"`)) {
		t.Errorf("the audit log does not show CreateConnection with its key hidden (%v)", err)
	}
	files, _ := os.ReadDir(srv.DataDir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(srv.DataDir, f.Name()))
		if err == nil && bytes.Contains(b, []byte("secret-value")) {
			t.Errorf("%s contains the API key value", f.Name())
		}
	}
}

func TestFailingTargetIsRetriedUntilAccepted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := newClient(t)
	const failures = 3
	tg, url := newTarget(t, failures)
	// A plain URL as the target ARN: Bulwark's extension.
	putRuleWithTarget(t, ctx, c, "retry", `{"source":["com.example.app"]}`, types.Target{Id: aws.String("url"), Arn: aws.String(url)})
	id := putEvent(t, ctx, c, "com.example.app", "Thing Happened", `{"n":1}`)

	deliverUntil(t, srv, "the retried event", func() bool { _, n := tg.counts(); return n >= 1 })
	drained(t, srv)
	attempts, accepted := tg.counts()
	if attempts != failures+1 || accepted != 1 {
		t.Fatalf("%d attempts, %d accepted; want %d and 1", attempts, accepted, failures+1)
	}
	if got := tg.events()[0]["id"]; got != id {
		t.Errorf("event id %v, want %s", got, id)
	}
}

func TestDisabledRuleDeliversNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := newClient(t)
	off, offURL := newTarget(t, 0)
	on, onURL := newTarget(t, 0)
	putRuleWithTarget(t, ctx, c, "off", `{"source":["com.example.app"]}`, types.Target{Id: aws.String("t"), Arn: aws.String(offURL)})
	putRuleWithTarget(t, ctx, c, "on", `{"source":["com.example.app"]}`, types.Target{Id: aws.String("t"), Arn: aws.String(onURL)})
	if _, err := c.DisableRule(ctx, &eventbridge.DisableRuleInput{Name: aws.String("off")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("off")})
	if err != nil || d.State != types.RuleStateDisabled {
		t.Fatalf("DescribeRule: %v %v", err, d)
	}
	putEvent(t, ctx, c, "com.example.app", "x", `{}`)
	// The enabled rule's delivery shows the event was processed.
	deliverUntil(t, srv, "the enabled rule's delivery", func() bool { _, n := on.counts(); return n == 1 })
	drained(t, srv)
	if a, _ := off.counts(); a != 0 {
		t.Fatalf("the disabled rule's target got %d requests", a)
	}
	if _, err := c.EnableRule(ctx, &eventbridge.EnableRuleInput{Name: aws.String("off")}); err != nil {
		t.Fatal(err)
	}
	putEvent(t, ctx, c, "com.example.app", "x", `{}`)
	deliverUntil(t, srv, "delivery after EnableRule", func() bool { _, n := off.counts(); return n == 1 })
}

func TestTestEventPattern(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := newClient(t)
	event := `{"id":"1","account":"111122223333","source":"aws.acm","time":"2030-01-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:acm:us-east-1:111122223333:certificate/x"],"detail-type":"ACM Certificate Approaching Expiration","detail":{"DaysToExpiry":10,"CommonName":"a.example"}}`
	tests := []struct {
		name, pattern string
		want          bool
		code          string
	}{
		{"acm match", `{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration"]}`, true, ""},
		{"detail numeric", `{"detail":{"DaysToExpiry":[{"numeric":["<=",14]}]}}`, true, ""},
		{"other detail-type", `{"source":["aws.acm"],"detail-type":["ACM Certificate Expired"]}`, false, ""},
		{"suffix", `{"detail":{"CommonName":[{"suffix":".example"}]}}`, true, ""},
		{"invalid", `{"source":"aws.acm"}`, false, "InvalidEventPatternException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.TestEventPattern(ctx, &eventbridge.TestEventPatternInput{EventPattern: aws.String(tc.pattern), Event: aws.String(event)})
			if tc.code != "" {
				var ae smithy.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Result != tc.want {
				t.Errorf("Result = %v, want %v", out.Result, tc.want)
			}
		})
	}
}

func TestRuleLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := newClient(t)
	for _, n := range []string{"a-1", "a-2", "a-3", "b-1"} {
		if _, err := c.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(n), EventPattern: aws.String(`{"source":["x"]}`), Description: aws.String("rule " + n)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pages := 0
	in := &eventbridge.ListRulesInput{NamePrefix: aws.String("a-"), Limit: aws.Int32(2)}
	for {
		out, err := c.ListRules(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.Rules {
			names = append(names, aws.ToString(r.Name))
		}
		if out.NextToken == nil || pages > 5 {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(names) != 3 || names[0] != "a-1" || names[2] != "a-3" || pages != 2 {
		t.Fatalf("ListRules pages=%d names=%v", pages, names)
	}

	if _, err := c.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("a-1"), Targets: []types.Target{{Id: aws.String("t"), Arn: aws.String("http://127.0.0.1:9/")}}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("a-1")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Fatalf("DeleteRule with targets: %v", err)
	}
	lt, err := c.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("a-1")})
	if err != nil || len(lt.Targets) != 1 || aws.ToString(lt.Targets[0].Arn) != "http://127.0.0.1:9/" {
		t.Fatalf("ListTargetsByRule: %v %+v", err, lt)
	}
	if _, err := c.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String("a-1"), Ids: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("a-1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("a-1")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("DescribeRule after delete: %v", err)
	}
	_, err = c.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("x"), EventPattern: aws.String(`{"source":["x"]}`), EventBusName: aws.String("custom")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("PutRule on another bus: %v", err)
	}
	// Unsupported targets fail per entry.
	pt, err := c.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("a-2"), Targets: []types.Target{{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:111122223333:q")}}})
	if err != nil || pt.FailedEntryCount != 1 {
		t.Fatalf("PutTargets(sqs): %v %+v", err, pt)
	}
}

func TestPutEventsRefusesAWSSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := newClient(t)
	out, err := c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("aws.acm"), DetailType: aws.String("ACM Certificate Expired"), Detail: aws.String(`{}`)},
		{Source: aws.String("app"), DetailType: aws.String("x"), Detail: aws.String(`not json`)},
		{Source: aws.String("app"), DetailType: aws.String("x"), Detail: aws.String(`{}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	codes := []string{aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[1].ErrorCode), aws.ToString(out.Entries[2].ErrorCode)}
	if out.FailedEntryCount != 2 || codes[0] != "NotAuthorizedForSourceException" || codes[1] != "MalformedDetail" || codes[2] != "" || out.Entries[2].EventId == nil {
		t.Fatalf("FailedEntryCount=%d codes=%v", out.FailedEntryCount, codes)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, root := newClient(t)
	if _, err := root.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("mine"), EventPattern: aws.String(`{"source":["x"]}`)}); err != nil {
		t.Fatal(err)
	}
	iamSvc := srv.IAM()
	if _, err := iamSvc.CreateUser(ctx, "dev", "/", nil); err != nil {
		t.Fatal(err)
	}
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"events:DescribeRule","Resource":"arn:aws:events:us-east-1:111122223333:rule/mine"}]}`
	if err := iamSvc.PutUserPolicy(ctx, "dev", "p", pol); err != nil {
		t.Fatal(err)
	}
	key, secret, err := iamSvc.CreateAccessKey(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	c := eventbridge.NewFromConfig(srv.AWSConfigFor(key.AccessKeyID, secret))
	if _, err := c.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("mine")}); err != nil {
		t.Fatalf("allowed DescribeRule: %v", err)
	}
	var ae smithy.APIError
	_, err = c.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("mine")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("DeleteRule: %v, want AccessDeniedException", err)
	}
	_, err = c.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("other")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("DescribeRule(other): %v, want AccessDeniedException", err)
	}
}
