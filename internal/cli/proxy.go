package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy/launch"
)

type proxyFlags struct {
	opts      launch.Options
	listeners []string
	logLevel  string
	allowAWS  bool
}

func newProxyCmd() *cobra.Command {
	f := &proxyFlags{}
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run the service-mesh data plane (a virtual node's sidecar or a virtual gateway)",
		Long: `Run one App Mesh virtual node (a sidecar in front of a local app) or virtual
gateway, from a local mesh file or from the appmesh control plane:

  bulwark proxy --config mesh.yaml
  bulwark proxy --endpoint http://127.0.0.1:4566 --mesh color-mesh --virtual-node colorteller

Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE,
...); the endpoint from --endpoint or AWS_ENDPOINT_URL. SIGHUP re-checks every
certificate source now; SIGTERM drains and exits. See docs/proxy.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, err := parseLevel(f.logLevel)
			if err != nil {
				return err
			}
			for _, l := range f.listeners {
				b, err := parseBinding(l)
				if err != nil {
					return err
				}
				f.opts.Listeners = append(f.opts.Listeners, b)
			}
			if f.opts.Mesh != "" && (f.opts.VirtualNode == "") == (f.opts.VirtualGateway == "") {
				return fmt.Errorf("--mesh needs exactly one of --virtual-node and --virtual-gateway")
			}
			f.opts.Logger = newLogger(level)
			cfg, using, err := certsync.LoadAWSConfig(cmd.Context(), certsync.AWSOptions{Endpoint: f.opts.Endpoint, AllowAWS: f.allowAWS})
			if errors.Is(err, certsync.ErrNoEndpoint) && f.opts.Mesh == "" {
				// A local mesh file may need no API at all (file
				// certificate sources); an sds or acm source then fails
				// on this unresolvable name instead of reaching AWS.
				cfg, _, err = certsync.LoadAWSConfig(cmd.Context(), certsync.AWSOptions{Endpoint: noEndpoint})
				using = "none (set --endpoint or AWS_ENDPOINT_URL for sds and acm certificate sources)"
			}
			if err != nil {
				return err
			}
			f.opts.AWS = &cfg
			f.opts.Logger.Info("proxy: API endpoint", "endpoint", using)
			f.opts.HandleSignals = true
			f.opts.Version = Version
			return launch.Run(cmd.Context(), f.opts)
		},
	}
	fl := cmd.Flags()
	o := &f.opts
	fl.StringVar(&o.ConfigFile, "config", "", "local mesh file (YAML or JSON; docs/proxy.md): run without a control plane")
	fl.StringVar(&o.Endpoint, "endpoint", "", "AWS endpoint URL for appmesh, acm, acm-pca and secretsmanager (default $AWS_ENDPOINT_URL)")
	fl.StringVar(&o.Mesh, "mesh", "", "mesh name in the control plane")
	fl.StringVar(&o.MeshOwner, "mesh-owner", "", "account id owning a shared mesh")
	fl.StringVar(&o.VirtualNode, "virtual-node", "", "run this virtual node's sidecar")
	fl.StringVar(&o.VirtualGateway, "virtual-gateway", "", "run this virtual gateway")
	fl.DurationVar(&o.Poll, "poll", launch.DefaultPoll, "control-plane poll interval")
	fl.DurationVar(&o.CertPoll, "cert-poll", 30*time.Second, "least time between two checks of an sds or acm certificate source (SIGHUP checks now)")
	fl.StringVar(&o.AdminAddress, "admin", "", "admin listener address (default 127.0.0.1:9901; no authentication: keep it on loopback)")
	fl.StringVar(&o.AppHost, "app-host", "", "local app host a sidecar forwards to (default 127.0.0.1; the port is the listener's portMapping.port)")
	fl.StringVar(&o.EgressAddress, "egress", "", "plaintext listener for the app's outbound calls, routed by Host to the node's backends")
	fl.StringArrayVar(&f.listeners, "listen", nil, "bind a spec listener: PORT=HOST:PORT (repeatable; default 0.0.0.0:15000 for a node, 0.0.0.0:PORT for a gateway)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.BoolVar(&f.allowAWS, "aws", false, "allow AWS's own endpoints and EC2 metadata credentials when no endpoint is configured")
	fl.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGTERM waits for in-flight requests")
	return cmd
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
