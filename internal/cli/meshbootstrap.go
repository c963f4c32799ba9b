package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bulwarkd/bulwark/internal/mesh/xds"
)

func newMeshBootstrapCmd() *cobra.Command {
	o := xds.BootstrapOptions{}
	var grpcMode bool
	var providers []string
	var refresh time.Duration
	cmd := &cobra.Command{
		Use:   "bootstrap --resource-arn ARN [--xds host:port]",
		Short: "Print an Envoy bootstrap that takes its configuration from Bulwark over xDS",
		Long: `Print a bootstrap (JSON; save it as envoy.json) for vanilla Envoy: the node id
and cluster are the virtual node or virtual gateway ARN, as App Mesh's Envoy image
sets them, and everything else arrives over Bulwark's aggregated discovery stream.

  --auth sigv4  sign the stream with Envoy's aws_iam gRPC credentials (service
                "appmesh", AWS credentials from Envoy's environment), over TLS
                verified with --ca-file: exactly what App Mesh's image does
  --auth mtls   present --client-cert/--client-key (URI SAN = the ARN) instead
  --auth none   unsigned (a server with xds.allowUnsigned; with --plaintext for
                a dev server's loopback xDS port)

Envoy also reports its stats every --stats-flush-interval to Bulwark's metrics
service (envoy.stat_sinks.metrics_service, same server and authentication), so
the console's Mesh view shows each listener's TLS handshake counts.

  bulwark mesh bootstrap --resource-arn arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh/virtualNode/colorteller \
      --xds bulwark.internal:15010 --ca-file /etc/bulwark/ca.pem > envoy.json
  envoy -c envoy.json

With --grpc it prints instead the bootstrap of gRPC's xDS client
(GRPC_XDS_BOOTSTRAP) for a proxyless gRPC application of a virtual node:
gRPC cannot sign its stream, so --auth is mtls or none (the default), and each
--certificate-provider NAME=DIR defines a file_watcher instance over a
directory that "bulwark certs fetch --watch --out DIR" keeps current (NAME is
an ACM certificate ARN, "trust:CA-ARNS", "file:PATH" or "sds:NAME"; see
docs/xds.md).

  bulwark mesh bootstrap --grpc --resource-arn arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualNode/greeter \
      --xds bulwark.internal:15010 --auth mtls --client-cert xds.pem --client-key xds.key \
      --certificate-provider arn:aws:acm:us-east-1:111122223333:certificate/…=/run/greeter > bootstrap.json
  GRPC_XDS_BOOTSTRAP=bootstrap.json ./greeter`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The App Mesh image's variables, as bulwark proxy reads them,
			// so a task definition's environment carries over.
			if o.ResourceARN == "" {
				o.ResourceARN = os.Getenv("APPMESH_RESOURCE_ARN")
			}
			if o.ResourceARN == "" {
				return errors.New("--resource-arn is required (or APPMESH_RESOURCE_ARN): the virtual node or virtual gateway ARN Envoy runs as")
			}
			if !cmd.Flags().Changed("xds") {
				if v := os.Getenv("APPMESH_XDS_ENDPOINT"); v != "" {
					o.XDSAddress = v
				}
			}
			if o.SDSSocketPath == "" {
				o.SDSSocketPath = os.Getenv("APPMESH_SDS_SOCKET_PATH")
			}
			if grpcMode {
				return printGRPCBootstrap(cmd, o, providers, refresh)
			}
			if len(providers) > 0 {
				return errors.New("--certificate-provider needs --grpc")
			}
			b, err := xds.Bootstrap(o)
			if err != nil {
				return err
			}
			raw, err := protojson.Marshal(b)
			if err != nil {
				return err
			}
			// protojson varies its whitespace on purpose; print a stable form.
			var compact, out bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil {
				return err
			}
			if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), out.String())
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.ResourceARN, "resource-arn", "", "virtual node or virtual gateway ARN (default $APPMESH_RESOURCE_ARN)")
	fl.StringVar(&o.XDSAddress, "xds", "127.0.0.1:15010", "Bulwark's xDS address, host:port (default $APPMESH_XDS_ENDPOINT, else 127.0.0.1:15010)")
	fl.StringVar(&o.Cluster, "cluster", "", "node cluster (default: the resource ARN, like APPMESH_RESOURCE_CLUSTER)")
	fl.StringVar(&o.Auth, "auth", xds.AuthSigV4, "stream authentication: sigv4, mtls or none")
	fl.StringVar(&o.CAFile, "ca-file", "", "CA bundle that verifies Bulwark's xDS certificate (default /etc/ssl/certs/ca-certificates.crt)")
	fl.StringVar(&o.ClientCertFile, "client-cert", "", "client certificate for --auth mtls")
	fl.StringVar(&o.ClientKeyFile, "client-key", "", "client key for --auth mtls")
	fl.BoolVar(&o.Plaintext, "plaintext", false, "connect without TLS (a dev server's loopback xDS port only)")
	fl.StringVar(&o.AdminAddress, "admin", "127.0.0.1:9901", "Envoy's admin address")
	fl.StringVar(&o.SDSSocketPath, "sds-socket", "", "Unix socket of the local SDS server the spec's sds certificate sources name (default $APPMESH_SDS_SOCKET_PATH; App Mesh's static_cluster_sds_unix_socket)")
	fl.DurationVar(&o.StatsFlushInterval, "stats-flush-interval", xds.DefaultStatsFlushInterval, "how often Envoy reports its stats to Bulwark's metrics service over the xDS connection (the console's TLS handshake counts); negative: no stats sink")
	fl.BoolVar(&grpcMode, "grpc", false, "print a gRPC xDS bootstrap for a proxyless gRPC application instead of an Envoy one")
	fl.StringArrayVar(&providers, "certificate-provider", nil, "with --grpc, NAME=DIR: a file_watcher over DIR/cert.pem, key.pem, chain.pem (repeatable)")
	fl.DurationVar(&refresh, "refresh-interval", xds.DefaultGRPCRefreshInterval, "with --grpc, how often gRPC rereads the certificate files")
	return cmd
}

// printGRPCBootstrap prints the --grpc form: gRPC's xDS bootstrap.
func printGRPCBootstrap(cmd *cobra.Command, o xds.BootstrapOptions, providers []string, refresh time.Duration) error {
	g := xds.GRPCBootstrapOptions{ResourceARN: o.ResourceARN, XDSAddress: o.XDSAddress, Auth: o.Auth, CAFile: o.CAFile,
		ClientCertFile: o.ClientCertFile, ClientKeyFile: o.ClientKeyFile, Plaintext: o.Plaintext,
		CertificateProviders: map[string]string{}, RefreshInterval: refresh}
	if !cmd.Flags().Changed("auth") {
		// gRPC cannot sign: default to a client certificate when one is
		// given, else an unsigned stream.
		g.Auth = xds.AuthNone
		if o.ClientCertFile != "" {
			g.Auth = xds.AuthMTLS
		}
	}
	for _, p := range providers {
		// NAME may itself hold "=" (never in an ARN), so split at the last.
		i := strings.LastIndex(p, "=")
		if i <= 0 || i == len(p)-1 {
			return fmt.Errorf("--certificate-provider %q: use NAME=DIR", p)
		}
		g.CertificateProviders[p[:i]] = p[i+1:]
	}
	b, err := xds.GRPCBootstrap(g)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return err
}
