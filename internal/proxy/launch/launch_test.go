package launch_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/proxy/launch"
	"github.com/bulwarkd/bulwark/internal/proxy/xdsclient"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

const sidecarYAML = `
proxy:
  adminAddress: 127.0.0.1:0
  listeners: [{port: %[1]d, address: "127.0.0.1:0"}]
meshName: color-mesh
virtualNode:
  virtualNodeName: colorteller
  spec:
    listeners:
      - portMapping: {port: %[1]d, protocol: http2}
        tls:
          mode: STRICT
          certificate:
            file: {certificateChain: %[2]s/colorteller.pem, privateKey: %[2]s/colorteller.key}
    serviceDiscovery:
      dns: {hostname: colorteller.mesh.local}
    logging:
      accessLog:
        file: {path: %[2]s/access.log}
`

const gatewayYAML = `
proxy:
  adminAddress: 127.0.0.1:0
  listeners: [{port: 8080, address: "127.0.0.1:0"}]
meshName: color-mesh
virtualGateway:
  virtualGatewayName: colorgateway
  spec:
    listeners:
      - portMapping: {port: 8080, protocol: http2}
    backendDefaults:
      clientPolicy:
        tls:
          validation:
            trust:
              file: {certificateChain: %[2]s/ca.pem}
            subjectAlternativeNames:
              match: {exact: [colorteller.mesh.local]}
gatewayRoutes:
  - gatewayRouteName: to-colorteller
    spec:
      http2Route:
        match: {prefix: /}
        action:
          target:
            virtualService: {virtualServiceName: colorteller.mesh.local}
virtualServices:
  - virtualServiceName: colorteller.mesh.local
    spec:
      provider:
        virtualNode: {virtualNodeName: colorteller}
virtualNodes:
  - virtualNodeName: colorteller
    spec:
      listeners:
        - portMapping: {port: %[1]d, protocol: http2}
      serviceDiscovery:
        dns: {hostname: "%[3]s"}
`

// TestConfigFileHTTP2 runs a gateway and a sidecar from local mesh files
// and sends an HTTP/2 request and a gRPC-style request with trailers
// through them: client →h2c→ gateway →h2 over TLS→ sidecar →h2c→ app.
// The sidecar writes one JSON access-log line per request.
func TestConfigFileHTTP2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writePKI(t, dir, "colorteller", "colorteller.mesh.local")
	a := startApp(t, "yellow")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sc := start(t, launch.Options{ConfigFile: write("sidecar.yaml", fmt.Sprintf(sidecarYAML, a.port, dir))})
	scAddr := sc.ListenerAddr(a.port)
	gw := start(t, launch.Options{ConfigFile: write("gateway.yaml", fmt.Sprintf(gatewayYAML, a.port, dir, scAddr))})

	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: protos}, Timeout: 10 * time.Second}
	url := "http://" + gw.ListenerAddr(8080)
	for _, tc := range []struct {
		name        string
		req         func() *http.Request
		wantTrailer string
	}{
		{"HTTP/2 GET", func() *http.Request { r, _ := http.NewRequest("GET", url+"/color", nil); return r }, ""},
		{"gRPC-style POST with trailers", func() *http.Request {
			r, _ := http.NewRequest("POST", url+"/color.ColorTeller/GetColor", strings.NewReader("\x00\x00\x00\x00\x00"))
			r.Header.Set("Content-Type", "application/grpc")
			r.Header.Set("TE", "trailers")
			return r
		}, "0"},
	} {
		resp, err := client.Do(tc.req())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body) // trailers arrive after the body
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "yellow" || resp.ProtoMajor != 2 {
			t.Errorf("%s: %d %q over %s", tc.name, resp.StatusCode, body, resp.Proto)
		}
		if got := resp.Trailer.Get("Grpc-Status"); got != tc.wantTrailer {
			t.Errorf("%s: trailer Grpc-Status = %q, want %q (trailers %v)", tc.name, got, tc.wantTrailer, resp.Trailer)
		}
		if tc.wantTrailer != "" && resp.Trailer.Get("Grpc-Message") != "ok yellow" {
			t.Errorf("%s: trailer Grpc-Message = %q", tc.name, resp.Trailer.Get("Grpc-Message"))
		}
		if a.lastProto() != "HTTP/2.0" {
			t.Errorf("%s: app saw %s, want HTTP/2.0 end to end", tc.name, a.lastProto())
		}
	}
	handshakes := sc.Stats().Counter("listener." + strings.Replace(scAddr, ":", "_", 1) + ".ssl.handshake").Value()
	if handshakes != 1 {
		t.Errorf("sidecar ssl.handshake = %d, want 1 (one pooled h2 connection)", handshakes)
	}

	// The access log is written after the response; wait for both lines.
	var lines []string
	testwait.For(t, 3*time.Second, "the condition", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		lines = nil
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return len(lines) >= 2
	})
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &entry); err != nil {
		t.Fatalf("access log line is not JSON: %q", lines[1])
	}
	for k, want := range map[string]any{
		"method": "POST", "path": "/color.ColorTeller/GetColor", "protocol": "HTTP/2.0",
		"response_code": float64(200), "downstream_tls": true, "bytes_sent": float64(len("yellow")),
	} {
		if entry[k] != want {
			t.Errorf("access log %s = %v, want %v (line %s)", k, entry[k], want, lines[1])
		}
	}
	if c, _ := entry["upstream_cluster"].(string); !strings.HasPrefix(c, "cds_ingress_color-mesh_colorteller_http2_") {
		t.Errorf("access log upstream_cluster = %q", c)
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    launch.Options
		want string
	}{
		{"neither file nor mesh", launch.Options{}, "--config"},
		{"both file and mesh", launch.Options{ConfigFile: "x.yaml", Mesh: "m", VirtualNode: "n"}, "--config"},
		{"missing file", launch.Options{ConfigFile: "/nonexistent/mesh.yaml"}, "/nonexistent/mesh.yaml"},
		// Never a silent fallback to polling an API (or AWS).
		{"mesh without xds", launch.Options{Mesh: "m", VirtualNode: "n"}, "--xds"},
		{"plaintext off loopback", launch.Options{XDS: "10.0.0.1:15010", NodeID: "mesh/m/virtualNode/n", XDSDial: xdsclient.DialConfig{Plaintext: true, Auth: xdsclient.AuthNone}}, "loopback"},
		{"bad node id", launch.Options{XDS: "127.0.0.1:1", NodeID: "arn:aws:iam::1:user/x", XDSDial: xdsclient.DialConfig{Auth: xdsclient.AuthNone}}, "App Mesh ARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Logger = quiet()
			err := launch.Run(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
