package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/renewer"
)

// serving returns the serial of the first certificate a proxy presents.
func serving(rp *runningProxy) string {
	for _, c := range rp.p.Certs().Certificates {
		if len(c.CertChain) > 0 {
			return c.CertChain[0].SerialNumber
		}
	}
	return ""
}

func (d *demo) stepRenewal(ctx context.Context) error {
	d.r.section("Renewal driven by expiry events, with zero-downtime reload (the seed's six renewal steps)",
		"ACM Certificate Approaching Expiration → EventBridge → renewer: RenewCertificate, export, new secret versions → both proxies reload in place, no failed request")
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	apiKey := hex.EncodeToString(key)
	rn, err := renewer.New(renewer.Config{
		ACM: acm.NewFromConfig(d.renewerCfg), Secrets: secretsmanager.NewFromConfig(d.renewerCfg),
		Bindings: []renewer.Binding{{CertificateARN: d.tellerCert}, {CertificateARN: d.gatewayCert, SecretPrefixes: []string{gatewayPrefix}}},
		Auth:     renewer.Auth{HeaderName: "x-api-key", HeaderValue: apiKey},
		// The demo cannot wait half an hour: the renewer looks 35 minutes
		// ahead, where the one-hour certificates are inside their window
		// (half their lifetime, measured from IssuedAt).
		Clock: clock.WithNow(clock.Real(), func() time.Time { return time.Now().Add(35 * time.Minute) }),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: rn.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	renewerURL := "http://" + ln.Addr().String() + "/"

	// Route ACM's events to the renewer: an API destination whose
	// connection adds the renewer's API key, as on EventBridge.
	eb := eventbridge.NewFromConfig(d.e.rootConfig())
	conn, err := eb.CreateConnection(ctx, &eventbridge.CreateConnectionInput{Name: aws.String("renewer"), AuthorizationType: ebtypes.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &ebtypes.CreateConnectionAuthRequestParameters{ApiKeyAuthParameters: &ebtypes.CreateConnectionApiKeyAuthRequestParameters{
			ApiKeyName: aws.String("x-api-key"), ApiKeyValue: aws.String(apiKey)}}})
	if err != nil {
		return fmt.Errorf("create connection: %w", err)
	}
	dest, err := eb.CreateApiDestination(ctx, &eventbridge.CreateApiDestinationInput{Name: aws.String("renewer"), ConnectionArn: conn.ConnectionArn,
		InvocationEndpoint: aws.String(renewerURL), HttpMethod: ebtypes.ApiDestinationHttpMethodPost})
	if err != nil {
		return fmt.Errorf("create API destination: %w", err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("certificate-expiry"),
		EventPattern: aws.String(`{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration"]}`)}); err != nil {
		return fmt.Errorf("put rule: %w", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("certificate-expiry"),
		Targets: []ebtypes.Target{{Id: aws.String("renewer"), Arn: dest.ApiDestinationArn}}}); err != nil {
		return fmt.Errorf("put targets: %w", err)
	}
	d.r.info("rule certificate-expiry → API destination %s", renewerURL)

	sidecarBefore, gatewayBefore := serving(d.sidecar), serving(d.gateway)
	d.r.info("serving before: ColorTeller %s, ColorGateway %s", sidecarBefore, gatewayBefore)

	// Traffic through the mesh for the whole renewal.
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if code, body, err := d.getColor(); err == nil && code == 200 && body == color {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// ACM's daily expiry pass finds both one-hour certificates within
	// DaysBeforeExpiry and announces them; the bus delivers at once.
	if err := d.e.srv.ACM().Tick(ctx); err != nil {
		return fmt.Errorf("expiry pass: %w", err)
	}
	if _, err := d.e.srv.Events().DeliverDue(ctx); err != nil {
		return fmt.Errorf("deliver events: %w", err)
	}
	renewed := d.r.wait("waiting for the renewer and for both proxies to reload", 60*time.Second, func() bool {
		return serving(d.sidecar) != sidecarBefore && serving(d.gateway) != gatewayBefore
	})
	time.Sleep(200 * time.Millisecond) // a few more requests on the new certificates
	close(stop)
	wg.Wait()
	for _, st := range rn.Status().Certificates {
		d.r.check(st.Renewals == 1, "renewer renewed %s once (%d), exported %d time(s)", shortARN(st.CertificateARN), st.Renewals, st.Exports)
	}
	d.r.check(renewed, "ColorTeller now serves %s (was %s); ColorGateway presents %s (was %s)", serving(d.sidecar), sidecarBefore, serving(d.gateway), gatewayBefore)
	d.r.check(failed.Load() == 0 && ok.Load() > 0, "%d requests through the mesh during the renewal, %d failed", ok.Load()+failed.Load(), failed.Load())
	_, hs2, nc, _ := d.sslStats()
	d.r.check(hs2 >= 1 && nc == 0, "still mutual TLS after the reload (ssl.no_certificate %d)", nc)
	return nil
}
