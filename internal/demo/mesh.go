package demo

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/launch"
)

const (
	meshName    = "colorapp"
	serviceName = "colorteller.colorapp.local"
	gatewayPort = 8080
	color       = "yellow"
)

// colorApp is the seed's ColorTeller application: it answers its color.
type colorApp struct {
	port int
	srv  *http.Server
}

func startColorApp(addr string) (*colorApp, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	a := &colorApp{port: ln.Addr().(*net.TCPAddr).Port, srv: &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, color) }),
		ReadHeaderTimeout: 5 * time.Second,
	}}
	go a.srv.Serve(ln)
	return a, nil
}

// listenPreferred listens on the seed's port when it is free, else on any.
func listenPreferred(addr string) (net.Listener, error) {
	if ln, err := net.Listen("tcp", addr); err == nil {
		return ln, nil
	}
	host, _, _ := net.SplitHostPort(addr)
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

// preferredAddr is addr when it can be bound now, else an ephemeral port.
func preferredAddr(addr string) string {
	ln, err := listenPreferred(addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	got := ln.Addr().String()
	ln.Close()
	return got
}

func (d *demo) stepMesh(ctx context.Context) error {
	d.r.section("Create the Color App mesh (App Mesh API)",
		"the walkthrough's resources through `appmesh` shapes: mesh, ColorTeller virtual node + service, ColorGateway virtual gateway + route")
	app, err := startColorApp(d.port("127.0.0.1:9080"))
	if err != nil {
		return err
	}
	d.app = app
	must := func(_ any, err error) error { return err }
	steps := []error{
		must(d.mesh.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String(meshName)})),
		must(d.mesh.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String("colorteller"),
			Spec: d.tellerSpec(tellerName, false)})),
		must(d.mesh.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: aws.String(meshName), VirtualServiceName: aws.String(serviceName),
			Spec: &amtypes.VirtualServiceSpec{Provider: &amtypes.VirtualServiceProviderMemberVirtualNode{Value: amtypes.VirtualNodeServiceProvider{VirtualNodeName: aws.String("colorteller")}}}})),
		must(d.mesh.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: aws.String(meshName), VirtualGatewayName: aws.String("colorgateway"),
			Spec: d.gatewaySpec(false)})),
		must(d.mesh.CreateGatewayRoute(ctx, &appmesh.CreateGatewayRouteInput{MeshName: aws.String(meshName), VirtualGatewayName: aws.String("colorgateway"),
			GatewayRouteName: aws.String("colorteller-route"), Spec: &amtypes.GatewayRouteSpec{HttpRoute: &amtypes.HttpGatewayRoute{
				Match:  &amtypes.HttpGatewayRouteMatch{Prefix: aws.String("/")},
				Action: &amtypes.HttpGatewayRouteAction{Target: &amtypes.GatewayRouteTarget{VirtualService: &amtypes.GatewayRouteVirtualService{VirtualServiceName: aws.String(serviceName)}}},
			}}})),
	}
	for _, err := range steps {
		if err != nil {
			return fmt.Errorf("create mesh resources: %w", err)
		}
	}
	d.r.check(true, "mesh %s: virtual node colorteller (app on :%d), virtual service %s, virtual gateway colorgateway (:%d)", meshName, app.port, serviceName, gatewayPort)
	return nil
}

// tellerSpec is ColorTeller's virtual node: a STRICT TLS listener in front
// of the app with the server certificate from ACM; with mtls, client
// certificates are required and must chain to the ColorGateway CA (the
// chain secret, never the gateway's key) and name the gateway.
func (d *demo) tellerSpec(hostname string, mtls bool) *amtypes.VirtualNodeSpec {
	listenerTLS := &amtypes.ListenerTls{Mode: amtypes.ListenerTlsModeStrict,
		Certificate: &amtypes.ListenerTlsCertificateMemberAcm{Value: amtypes.ListenerTlsAcmCertificate{CertificateArn: aws.String(d.tellerCert)}}}
	if mtls {
		listenerTLS.Validation = &amtypes.ListenerTlsValidationContext{
			Trust:                   &amtypes.ListenerTlsValidationContextTrustMemberSds{Value: amtypes.TlsValidationContextSdsTrust{SecretName: aws.String(certsync.NamesFor(gatewayPrefix).Chain)}},
			SubjectAlternativeNames: &amtypes.SubjectAlternativeNames{Match: &amtypes.SubjectAlternativeNameMatchers{Exact: []string{gatewayName}}},
		}
	}
	return &amtypes.VirtualNodeSpec{
		Listeners: []amtypes.Listener{{
			PortMapping: &amtypes.PortMapping{Port: aws.Int32(int32(d.app.port)), Protocol: amtypes.PortProtocolHttp},
			Tls:         listenerTLS,
		}},
		ServiceDiscovery: &amtypes.ServiceDiscoveryMemberDns{Value: amtypes.DnsServiceDiscovery{Hostname: aws.String(hostname)}},
	}
}

// gatewaySpec is ColorGateway: an HTTP listener whose backends are reached
// over TLS only, validated against the ColorTeller CA through ACM PCA and
// the ColorTeller name; with mtls it presents its client certificate from
// Secrets Manager (SDS).
func (d *demo) gatewaySpec(mtls bool) *amtypes.VirtualGatewaySpec {
	clientTLS := &amtypes.VirtualGatewayClientPolicyTls{
		Enforce: aws.Bool(true),
		Validation: &amtypes.VirtualGatewayTlsValidationContext{
			Trust:                   &amtypes.VirtualGatewayTlsValidationContextTrustMemberAcm{Value: amtypes.VirtualGatewayTlsValidationContextAcmTrust{CertificateAuthorityArns: []string{d.tellerCA.subARN}}},
			SubjectAlternativeNames: &amtypes.SubjectAlternativeNames{Match: &amtypes.SubjectAlternativeNameMatchers{Exact: []string{tellerName}}},
		},
	}
	if mtls {
		clientTLS.Certificate = &amtypes.VirtualGatewayClientTlsCertificateMemberSds{Value: amtypes.VirtualGatewayListenerTlsSdsCertificate{SecretName: aws.String(gatewayPrefix)}}
	}
	return &amtypes.VirtualGatewaySpec{
		Listeners:       []amtypes.VirtualGatewayListener{{PortMapping: &amtypes.VirtualGatewayPortMapping{Port: aws.Int32(gatewayPort), Protocol: amtypes.VirtualGatewayPortProtocolHttp}}},
		BackendDefaults: &amtypes.VirtualGatewayBackendDefaults{ClientPolicy: &amtypes.VirtualGatewayClientPolicy{Tls: clientTLS}},
	}
}

// startProxy runs `bulwark proxy --xds ... --mesh colorapp ...` in-process as the
// given principal.
func (d *demo) startProxy(ctx context.Context, cfg aws.Config, o launch.Options) (*runningProxy, error) {
	o.Mesh, o.AWS, o.CertPoll = meshName, &cfg, 500*time.Millisecond
	o.XDS, o.XDSDial.Plaintext = d.e.xds, true
	o.Logger, o.AccessLog = slog.New(slog.DiscardHandler), io.Discard
	started := make(chan *proxy.Proxy, 1)
	o.Started = func(p *proxy.Proxy) { started <- p }
	pctx, cancel := context.WithCancel(ctx)
	rp := &runningProxy{cancel: cancel, done: make(chan error, 1)}
	go func() { rp.done <- launch.Run(pctx, o) }()
	select {
	case rp.p = <-started:
	case err := <-rp.done:
		cancel()
		return nil, err
	case <-time.After(20 * time.Second):
		cancel()
		return nil, fmt.Errorf("proxy did not start")
	}
	d.proxyMu.Lock()
	d.proxies = append(d.proxies, rp)
	d.proxyMu.Unlock()
	return rp, nil
}

// startPair starts a fresh ColorTeller sidecar and ColorGateway (fresh
// statistics, as the seed's check assumes) for the given TLS mode.
func (d *demo) startPair(ctx context.Context, mtls bool) error {
	d.stopProxies()
	node := func(hostname string) error {
		_, err := d.mesh.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: aws.String(meshName), VirtualNodeName: aws.String("colorteller"),
			Spec: d.tellerSpec(hostname, mtls)})
		return err
	}
	if err := node(tellerName); err != nil {
		return err
	}
	var err error
	d.sidecar, err = d.startProxy(ctx, d.tellerProxyCfg, launch.Options{VirtualNode: "colorteller", AdminAddress: d.port("127.0.0.1:9901"),
		Listeners: []spec.ListenerBinding{{Port: d.app.port, Address: d.port("127.0.0.1:15000")}}})
	if err != nil {
		return fmt.Errorf("start the ColorTeller sidecar: %w", err)
	}
	// Service discovery by host:port, a mesh on one machine: the gateway
	// dials the sidecar where it actually listens.
	if err := node(d.sidecar.p.ListenerAddr(d.app.port)); err != nil {
		return err
	}
	if _, err := d.mesh.UpdateVirtualGateway(ctx, &appmesh.UpdateVirtualGatewayInput{MeshName: aws.String(meshName), VirtualGatewayName: aws.String("colorgateway"),
		Spec: d.gatewaySpec(mtls)}); err != nil {
		return err
	}
	d.gateway, err = d.startProxy(ctx, d.gatewayProxyCfg, launch.Options{VirtualGateway: "colorgateway", AdminAddress: "127.0.0.1:0",
		Listeners: []spec.ListenerBinding{{Port: gatewayPort, Address: d.port("127.0.0.1:8080")}}})
	if err != nil {
		return fmt.Errorf("start the ColorGateway proxy: %w", err)
	}
	return nil
}

func (d *demo) gatewayURL() string { return "http://" + d.gateway.p.ListenerAddr(gatewayPort) + "/" }

// getColor sends one request through the gateway on a new connection.
func (d *demo) getColor() (int, string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(d.gatewayURL())
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// sslStats fetches the sidecar's /stats as the seed does with curl and
// returns the listener's ssl.handshake and ssl.no_certificate lines.
func (d *demo) sslStats() (lines []string, handshake, noCert int, err error) {
	resp, err := http.Get("http://" + d.sidecar.p.AdminAddr() + "/stats")
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	prefix := "listener." + strings.ReplaceAll(d.sidecar.p.ListenerAddr(d.app.port), ":", "_") + "."
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, stat := range []string{"ssl.handshake", "ssl.no_certificate"} {
			if !strings.HasPrefix(line, prefix+stat+": ") {
				continue
			}
			lines = append(lines, line)
			n, _ := strconv.Atoi(strings.TrimPrefix(line, prefix+stat+": "))
			if stat == "ssl.handshake" {
				handshake = n
			} else {
				noCert = n
			}
		}
	}
	return lines, handshake, noCert, sc.Err()
}

func (d *demo) requestAndStats(mode string, wantNoCert int) {
	code, body, err := d.getColor()
	if !d.r.must(err, "request through the gateway") {
		return
	}
	d.r.check(code == 200 && body == color, "curl %s → %d %q", d.gatewayURL(), code, body)
	lines, hs, nc, err := d.sslStats()
	d.r.must(err, "read the sidecar's /stats")
	d.r.info("$ curl -s http://%s/stats | grep -E 'ssl.handshake|ssl.no_certificate'", d.sidecar.p.AdminAddr())
	for _, l := range lines {
		d.r.info("  %s", l)
	}
	d.r.check(hs == 1 && nc == wantNoCert, "%s: ssl.handshake %d, ssl.no_certificate %d (want 1 and %d)", mode, hs, nc, wantNoCert)
}

func (d *demo) stepOneWay(ctx context.Context) error {
	d.r.section("One-way TLS: ColorGateway → ColorTeller",
		"the sidecar's server certificate comes from ACM (key exported into memory only), the gateway trusts the ColorTeller CA through ACM PCA")
	if err := d.startPair(ctx, false); err != nil {
		return err
	}
	d.requestAndStats("one-way TLS", 1)
	return nil
}

func (d *demo) stepMTLS(ctx context.Context) error {
	d.r.section("Mutual TLS: the gateway presents its client certificate from Secrets Manager",
		"the native client-certificate integration the seed says App Mesh lacks; ColorTeller gets only the gateway CA chain")
	if err := d.startPair(ctx, true); err != nil {
		return err
	}
	d.requestAndStats("mTLS", 0)
	return nil
}

// tlsClient dials the sidecar directly as a would-be gateway.
func (d *demo) tlsClient(cert *tls.Certificate) (int, error) {
	tc := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // the server is not what is under test here
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + d.sidecar.p.ListenerAddr(d.app.port) + "/")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
