package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/awssource"
	"github.com/bulwarkd/bulwark/internal/proxy/stats"
	"github.com/bulwarkd/bulwark/internal/proxy/xdsclient"
)

// Options are `bulwark proxy`'s inputs: ConfigFile (no control plane), or
// XDS with the proxy's resource (NodeID, or Mesh with VirtualNode or
// VirtualGateway).
type Options struct {
	// ConfigFile is a local mesh file (spec.ParseLocal): no control plane.
	ConfigFile string
	// XDS is the management server's host:port: the proxy's
	// configuration and certificates come over its ADS stream.
	XDS string
	// NodeID is the proxy's resource as App Mesh's Envoy names it (its
	// ARN, APPMESH_RESOURCE_ARN); when empty, Mesh with VirtualNode or
	// VirtualGateway make the short form mesh/MESH/virtualNode/NAME.
	NodeID string
	// Mesh with VirtualNode or VirtualGateway names the proxy's resource.
	Mesh, VirtualNode, VirtualGateway string
	// XDSDial is how the stream is authenticated and secured (Target and
	// AWS are filled in from XDS and the AWS configuration).
	XDSDial xdsclient.DialConfig
	// XDSMinBackoff and XDSMaxBackoff bound reconnection waits; zero means
	// xdsclient's defaults (1 s doubling to 30 s).
	XDSMinBackoff, XDSMaxBackoff time.Duration
	// StatsFlushInterval is how often the proxy reports its stats over
	// the xDS connection (xdsclient.ClientConfig.StatsFlushInterval):
	// zero means every 10 s, negative never.
	StatsFlushInterval time.Duration
	// Endpoint overrides the AWS endpoint of every client (else
	// AWS_ENDPOINT_URL or the SDK's default).
	Endpoint string
	// CertPoll is the least time between two remote certificate checks
	// (awssource.Config.Interval); zero means awssource.DefaultInterval.
	CertPoll time.Duration
	// FilePoll is how often file sources are checked; zero means
	// certsource.DefaultPollInterval.
	FilePoll time.Duration
	// AdminAddress, AppHost and EgressAddress override the settings of the
	// file (or the defaults) when non-empty.
	AdminAddress, AppHost, EgressAddress string
	// Listeners bind spec listener ports to local addresses; they replace
	// the file's bindings for the same ports.
	Listeners []spec.ListenerBinding
	// Logger receives operational logs; nil means slog.Default().
	Logger *slog.Logger
	// AccessLog overrides the spec's access log destination when non-nil.
	AccessLog io.Writer
	// AWS is the SDK configuration; nil means config.LoadDefaultConfig.
	AWS *aws.Config
	// HandleSignals makes Run stop on SIGTERM/SIGINT (graceful drain) and
	// re-check every certificate source on SIGHUP. Off in tests.
	HandleSignals bool
	// ShutdownTimeout bounds the drain; zero means the proxy's default.
	ShutdownTimeout time.Duration
	// SignalHUP, when set, stands in for SIGHUP (tests send on it).
	SignalHUP <-chan os.Signal
	// XDSStarted, when set, is called with the stream's client before it
	// connects (tests watch its Status).
	XDSStarted func(*xdsclient.Client)
	// Started, when set, is called once the proxy is listening.
	Started func(*proxy.Proxy)
	// Version is reported by /server_info.
	Version string
}

// nodeID is the stream's node id.
func (o Options) nodeID() (string, error) {
	if o.NodeID != "" {
		if o.Mesh != "" || o.VirtualNode != "" || o.VirtualGateway != "" {
			return "", errors.New("proxy: give the resource ARN or --mesh with --virtual-node/--virtual-gateway, not both")
		}
		return o.NodeID, nil
	}
	if o.Mesh == "" || (o.VirtualNode == "") == (o.VirtualGateway == "") {
		return "", errors.New("proxy: name the proxy's resource: --resource-arn ARN, or --mesh NAME with exactly one of --virtual-node and --virtual-gateway")
	}
	if o.VirtualNode != "" {
		return "mesh/" + o.Mesh + "/virtualNode/" + o.VirtualNode, nil
	}
	return "mesh/" + o.Mesh + "/virtualGateway/" + o.VirtualGateway, nil
}

// Run builds the proxy, serves until ctx ends (or SIGTERM), then drains.
func Run(ctx context.Context, o Options) error {
	xdsMode := o.XDS != "" || o.NodeID != "" || o.Mesh != ""
	if (o.ConfigFile == "") == !xdsMode {
		return errors.New("proxy: give either --config FILE or --xds HOST:PORT with the proxy's resource (--resource-arn, or --mesh with --virtual-node/--virtual-gateway)")
	}
	if xdsMode && o.XDS == "" {
		// Never read the mesh any other way: a proxy that silently
		// polled an API (or AWS) would not be what the operator set up.
		return errors.New("proxy: --xds HOST:PORT (or APPMESH_XDS_ENDPOINT) is required with --mesh/--resource-arn: the proxy reads its configuration from Bulwark's xDS endpoint (`bulwark server --xds-listen`)")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.HandleSignals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer stop()
	}
	awsCfg, err := o.awsConfig(ctx)
	if err != nil && xdsMode && (o.XDSDial.Auth == "" || o.XDSDial.Auth == xdsclient.AuthSigV4) {
		return err
	} else if err != nil {
		log.Warn("no AWS configuration; only file certificate sources will work", "error", err)
	}
	sources := awssource.New(awssource.Config{
		ACM:      acm.NewFromConfig(awsCfg),
		PCA:      acmpca.NewFromConfig(awsCfg),
		Secrets:  secretsmanager.NewFromConfig(awsCfg),
		Interval: o.CertPoll,
	})
	pcfg := proxy.Config{
		Sources: sources.Sources, Logger: log, AccessLog: o.AccessLog,
		PollInterval: o.FilePoll, ShutdownTimeout: o.ShutdownTimeout, Version: o.Version,
		// One SIGHUP handler, the proxy's: remote caches expire first so
		// the re-check reaches ACM and Secrets Manager.
		HandleSIGHUP: o.HandleSignals || o.SignalHUP != nil, SignalHUP: o.SignalHUP, OnSIGHUP: sources.Expire,
	}
	if xdsMode {
		return runXDS(ctx, o, awsCfg, pcfg, log)
	}
	data, err := os.ReadFile(o.ConfigFile)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	lf, err := spec.ParseLocal(data)
	if err != nil {
		return fmt.Errorf("proxy: %s: %w", o.ConfigFile, err)
	}
	pcfg.Snapshot, pcfg.Settings = &lf.Snapshot, o.override(lf.Proxy)
	p, err := proxy.New(pcfg)
	if err != nil {
		return err
	}
	return serve(ctx, p, o.Started)
}

// serve runs p until ctx ends.
func serve(ctx context.Context, p *proxy.Proxy, started func(*proxy.Proxy)) error {
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if started != nil {
		started(p)
	}
	return <-done
}

// runXDS feeds the proxy from the management server's stream: the first
// version builds it, later ones update it without a restart, and a
// version it cannot apply is NACKed while the running one stays.
func runXDS(ctx context.Context, o Options, awsCfg aws.Config, pcfg proxy.Config, log *slog.Logger) error {
	id, err := o.nodeID()
	if err != nil {
		return err
	}
	node, err := xdsclient.ParseNode(id)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	dc := o.XDSDial
	dc.Target, dc.AWS = o.XDS, awsCfg
	dial, err := xdsclient.DialOptions(dc)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	secrets := xdsclient.NewSecrets(pcfg.Sources)
	pcfg.Sources = secrets.Sources
	pcfg.Stats = stats.NewStore()
	settings := o.override(spec.ProxySettings{})

	var p *proxy.Proxy // set once, by apply, before first is closed
	first := make(chan struct{})
	apply := func(c *xdsclient.Config) error {
		old := secrets.Swap(c.Secrets)
		if p == nil {
			cfg := pcfg
			cfg.Snapshot, cfg.Settings = c.Snapshot, settings
			np, err := proxy.New(cfg)
			if err != nil {
				secrets.Swap(old)
				return err
			}
			p = np
			close(first)
			return nil
		}
		if err := p.Update(c.Snapshot); err != nil {
			secrets.Swap(old)
			return err
		}
		// Sources the update kept re-read their secret now (a renewal),
		// validated and swapped without touching open connections.
		p.ReloadCertificates()
		return nil
	}
	client, err := xdsclient.NewClient(xdsclient.ClientConfig{
		Target: o.XDS, Node: node, DialOptions: dial, Apply: apply, Logger: log, Stats: pcfg.Stats,
		MinBackoff: o.XDSMinBackoff, MaxBackoff: o.XDSMaxBackoff, StatsFlushInterval: o.StatsFlushInterval,
	})
	if err != nil {
		return err
	}
	if o.XDSStarted != nil {
		o.XDSStarted(client)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	clientDone := make(chan struct{})
	go func() { defer close(clientDone); _ = client.Run(runCtx) }()
	defer func() { cancel(); <-clientDone }()
	log.Info("proxy: waiting for the configuration over xDS", "server", o.XDS, "node", id)
	select {
	case <-first:
	case <-ctx.Done():
		// A first version may be being applied right now: stop the
		// client, then drain whatever it built.
		cancel()
		<-clientDone
		if p != nil {
			return p.Run(ctx)
		}
		return nil
	}
	return serve(runCtx, p, o.Started)
}

func (o Options) awsConfig(ctx context.Context) (aws.Config, error) {
	var cfg aws.Config
	if o.AWS != nil {
		cfg = o.AWS.Copy()
	} else {
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx); err != nil {
			return aws.Config{}, fmt.Errorf("proxy: AWS configuration: %w", err)
		}
	}
	if o.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(o.Endpoint)
	}
	return cfg, nil
}

// override applies the command-line settings over the file's.
func (o Options) override(s spec.ProxySettings) spec.ProxySettings {
	if o.AdminAddress != "" {
		s.AdminAddress = o.AdminAddress
	}
	if o.AppHost != "" {
		s.AppHost = o.AppHost
	}
	if o.EgressAddress != "" {
		s.EgressAddress = o.EgressAddress
	}
	for _, b := range o.Listeners {
		replaced := false
		for i := range s.Listeners {
			if s.Listeners[i].Port == b.Port {
				s.Listeners[i].Address, replaced = b.Address, true
			}
		}
		if !replaced {
			s.Listeners = append(s.Listeners, b)
		}
	}
	return s
}
