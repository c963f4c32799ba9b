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
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/mesh/spec"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/awssource"
	"github.com/bulwarkd/bulwark/internal/proxy/meshclient"
)

// DefaultPoll is how often the control plane is polled when Options.Poll
// is zero.
const DefaultPoll = 5 * time.Second

// Options are `bulwark proxy`'s inputs. Exactly one of ConfigFile and Mesh
// is set.
type Options struct {
	// ConfigFile is a local mesh file (spec.ParseLocal): no control plane.
	ConfigFile string
	// Mesh with VirtualNode or VirtualGateway names the proxy's resource
	// in the control plane; MeshOwner is set for a shared mesh.
	Mesh, MeshOwner, VirtualNode, VirtualGateway string
	// Endpoint overrides the AWS endpoint of every client (else
	// AWS_ENDPOINT_URL or the SDK's default).
	Endpoint string
	// Poll is the control-plane poll interval; zero means DefaultPoll.
	Poll time.Duration
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
	// Polled, when set, is called after every control-plane poll with its
	// outcome (meshclient.Config.Polled); tests wait on it.
	Polled func(error)
	// Started, when set, is called once the proxy is listening.
	Started func(*proxy.Proxy)
	// Version is reported by /server_info.
	Version string
}

// Run builds the proxy, serves until ctx ends (or SIGTERM), then drains.
func Run(ctx context.Context, o Options) error {
	if (o.ConfigFile == "") == (o.Mesh == "") {
		return errors.New("proxy: give either --config FILE or --mesh NAME with --virtual-node/--virtual-gateway")
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
	if err != nil && o.Mesh != "" {
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
	var (
		snap     *spec.Snapshot
		settings spec.ProxySettings
		mc       *meshclient.Client
	)
	if o.ConfigFile != "" {
		data, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		lf, err := spec.ParseLocal(data)
		if err != nil {
			return fmt.Errorf("proxy: %s: %w", o.ConfigFile, err)
		}
		snap, settings = &lf.Snapshot, lf.Proxy
	} else {
		mc, err = meshclient.New(meshclient.Config{API: appmesh.NewFromConfig(awsCfg), Mesh: o.Mesh, MeshOwner: o.MeshOwner,
			VirtualNode: o.VirtualNode, VirtualGateway: o.VirtualGateway, Logger: log, Polled: o.Polled})
		if err != nil {
			return err
		}
		if snap, _, err = mc.Poll(ctx); err != nil {
			return fmt.Errorf("proxy: reading the mesh: %w", err)
		}
	}
	settings = o.override(settings)
	p, err := proxy.New(proxy.Config{
		Snapshot: snap, Settings: settings, Sources: sources.Sources, Logger: log, AccessLog: o.AccessLog,
		PollInterval: o.FilePoll, ShutdownTimeout: o.ShutdownTimeout, Version: o.Version,
		// One SIGHUP handler, the proxy's: remote caches expire first so
		// the re-check reaches ACM and Secrets Manager.
		HandleSIGHUP: o.HandleSignals || o.SignalHUP != nil, SignalHUP: o.SignalHUP, OnSIGHUP: sources.Expire,
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if mc != nil {
		poll := o.Poll
		if poll <= 0 {
			poll = DefaultPoll
		}
		go func() { _ = mc.Watch(runCtx, poll, p.Update) }()
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	if o.Started != nil {
		o.Started(p)
	}
	return <-done
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
