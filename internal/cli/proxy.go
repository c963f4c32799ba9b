package cli

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/launch"
	"github.com/bulwarkd/bulwark/internal/proxy/xdsclient"
)

type proxyFlags struct {
	opts      launch.Options
	listeners []string
	logLevel  string
	allowAWS  bool
	poll      time.Duration
}

func newProxyCmd() *cobra.Command {
	f := &proxyFlags{}
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run the service-mesh data plane (a virtual node's sidecar or a virtual gateway)",
		Long: `Run one App Mesh virtual node (a sidecar in front of a local app) or virtual
gateway, from a local mesh file or from Bulwark's xDS endpoint (the stream App
Mesh's Envoy sidecars read; configuration and certificates are pushed):

  bulwark proxy --config mesh.yaml
  bulwark proxy --xds bulwark.internal:15010 --xds-ca-file ca.pem \
      --resource-arn arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller
  bulwark proxy --xds 127.0.0.1:15010 --xds-plaintext --mesh color-mesh --virtual-node colorteller

--xds defaults to $APPMESH_XDS_ENDPOINT and --resource-arn to
$APPMESH_RESOURCE_ARN, as App Mesh's Envoy image reads them. The stream is
signed with SigV4 (service "appmesh") with the standard AWS chain's credentials
(AWS_ACCESS_KEY_ID, AWS_PROFILE, ...) and AWS_REGION, unless --xds-auth says
otherwise. SIGHUP re-checks every certificate source now; SIGTERM drains and
exits. See docs/proxy.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, err := parseLevel(f.logLevel)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("poll") {
				return errors.New("--poll is gone: bulwark proxy no longer polls the App Mesh API; it follows the server's xDS stream (--xds HOST:PORT), which pushes every change")
			}
			for _, l := range f.listeners {
				b, err := parseBinding(l)
				if err != nil {
					return err
				}
				f.opts.Listeners = append(f.opts.Listeners, b)
			}
			o := &f.opts
			appMeshEnvDefaults(o)
			if o.Mesh != "" && (o.VirtualNode == "") == (o.VirtualGateway == "") {
				return fmt.Errorf("--mesh needs exactly one of --virtual-node and --virtual-gateway")
			}
			o.Logger = newLogger(level)
			cfg, using, err := certsync.LoadAWSConfig(cmd.Context(), certsync.AWSOptions{Endpoint: o.Endpoint, AllowAWS: f.allowAWS})
			if errors.Is(err, certsync.ErrNoEndpoint) {
				// Neither a local mesh file nor the xDS stream needs an
				// API: only sds (Secrets Manager) certificate sources do,
				// and they then fail on this unresolvable name instead of
				// reaching AWS. SigV4 credentials still come from the chain.
				cfg, _, err = certsync.LoadAWSConfig(cmd.Context(), certsync.AWSOptions{Endpoint: noEndpoint})
				using = "none (set --endpoint or AWS_ENDPOINT_URL for sds certificate sources)"
			}
			if err != nil {
				return err
			}
			o.AWS = &cfg
			o.Logger.Info("proxy: API endpoint", "endpoint", using)
			o.HandleSignals = true
			o.Version = Version
			return launch.Run(cmd.Context(), *o)
		},
	}
	fl := cmd.Flags()
	o := &f.opts
	fl.StringVar(&o.ConfigFile, "config", "", "local mesh file (YAML or JSON; docs/proxy.md): run without a control plane")
	fl.StringVar(&o.XDS, "xds", "", "Bulwark's xDS endpoint HOST:PORT (default $APPMESH_XDS_ENDPOINT): configuration and certificates are pushed over it")
	fl.StringVar(&o.NodeID, "resource-arn", "", "the virtual node or virtual gateway ARN this proxy runs as (default $APPMESH_RESOURCE_ARN)")
	fl.StringVar(&o.Mesh, "mesh", "", "mesh name (with --virtual-node or --virtual-gateway, instead of --resource-arn)")
	fl.StringVar(&o.VirtualNode, "virtual-node", "", "run this virtual node's sidecar")
	fl.StringVar(&o.VirtualGateway, "virtual-gateway", "", "run this virtual gateway")
	fl.StringVar(&o.XDSDial.Auth, "xds-auth", xdsclient.AuthSigV4, "how the xDS stream authenticates: sigv4 (service appmesh, AWS credentials), mtls (--xds-client-cert with the ARN as URI SAN) or none")
	fl.StringVar(&o.XDSDial.CAFile, "xds-ca-file", "", "PEM CA bundle the xDS server's certificate must chain to (default: system roots)")
	fl.StringVar(&o.XDSDial.ClientCert, "xds-client-cert", "", "client certificate (PEM) for --xds-auth mtls")
	fl.StringVar(&o.XDSDial.ClientKey, "xds-client-key", "", "client key (PEM) for --xds-auth mtls")
	fl.DurationVar(&o.StatsFlushInterval, "xds-stats-interval", xdsclient.DefaultStatsFlushInterval, "how often the proxy reports its stats to the xDS server's metrics service on the same connection (the console's TLS handshake counts); negative: never")
	fl.BoolVar(&o.XDSDial.Plaintext, "xds-plaintext", false, "plaintext HTTP/2 to a loopback xDS endpoint (a dev server's --xds-listen 127.0.0.1:PORT)")
	fl.StringVar(&o.Endpoint, "endpoint", "", "AWS endpoint URL for sds (Secrets Manager) and, with --config, acm and acm-pca sources (default $AWS_ENDPOINT_URL)")
	fl.DurationVar(&f.poll, "poll", 0, "removed: the proxy follows the xDS stream")
	_ = fl.MarkHidden("poll")
	fl.DurationVar(&o.CertPoll, "cert-poll", 30*time.Second, "least time between two checks of an sds or acm certificate source read from AWS APIs (SIGHUP checks now)")
	fl.StringVar(&o.AdminAddress, "admin", "", "admin listener address (default 127.0.0.1:9901; no authentication: keep it on loopback)")
	fl.StringVar(&o.AppHost, "app-host", "", "local app host a sidecar forwards to (default 127.0.0.1; the port is the listener's portMapping.port)")
	fl.StringVar(&o.EgressAddress, "egress", "", "plaintext listener for the app's outbound calls, routed by Host to the node's backends")
	fl.StringArrayVar(&f.listeners, "listen", nil, "bind a spec listener: PORT=HOST:PORT (repeatable; default 0.0.0.0:15000 for a node, 0.0.0.0:PORT for a gateway)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.BoolVar(&f.allowAWS, "aws", false, "allow AWS's own endpoints and EC2 metadata credentials when no endpoint is configured")
	fl.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGTERM waits for in-flight requests")
	return cmd
}

// appMeshEnvDefaults fills --xds and --resource-arn from the variables App
// Mesh's Envoy image reads (APPMESH_XDS_ENDPOINT, APPMESH_RESOURCE_ARN),
// so a task definition written for the image runs bulwark proxy as it is.
// Flags win; a local mesh file (--config) needs neither; --mesh with
// --virtual-node or --virtual-gateway names the resource instead.
func appMeshEnvDefaults(o *launch.Options) {
	if o.ConfigFile != "" {
		return
	}
	if o.XDS == "" {
		o.XDS = os.Getenv("APPMESH_XDS_ENDPOINT")
	}
	if o.NodeID == "" && o.Mesh == "" {
		o.NodeID = os.Getenv("APPMESH_RESOURCE_ARN")
	}
}

// noEndpoint is where a proxy without an endpoint sends API calls: a name
// under .invalid (RFC 2606) never resolves, so they fail, visibly.
const noEndpoint = "https://no-endpoint-configured.invalid"

// parseBinding reads PORT=HOST:PORT.
func parseBinding(s string) (spec.ListenerBinding, error) {
	p, addr, ok := strings.Cut(s, "=")
	port, err := strconv.Atoi(p)
	if !ok || err != nil || port < 1 || port > 65535 {
		return spec.ListenerBinding{}, fmt.Errorf("--listen %q: want PORT=HOST:PORT, PORT being the spec listener's portMapping.port", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return spec.ListenerBinding{}, fmt.Errorf("--listen %q: %w", s, err)
	}
	return spec.ListenerBinding{Port: port, Address: addr}, nil
}
