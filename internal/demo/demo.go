package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Options choose what the demo runs.
type Options struct {
	// Mode is "one-way", "mtls" or "both" (the default).
	Mode string
	// Edge adds the field-level encryption scenario (default on).
	Edge bool
	// KeepRunning leaves everything up after the checks, until ctx ends or
	// SIGINT, so a person can try the printed commands.
	KeepRunning bool
	// Out receives the narration; nil means os.Stdout.
	Out io.Writer
	// AnyPorts listens on ephemeral ports only; by default the demo uses
	// the seed's ports (app 9080, sidecar 15000, admin 9901, gateway 8080)
	// when they are free, so the printed commands match the article.
	AnyPorts bool
}

// Run runs the scenarios and returns an error naming every failed check.
func Run(ctx context.Context, o Options) (err error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	switch o.Mode {
	case "":
		o.Mode = "both"
	case "one-way", "mtls", "both":
	default:
		return fmt.Errorf("--mode %q: use one-way, mtls or both", o.Mode)
	}
	r := &runner{out: o.Out, tty: isTerminal(o.Out)}
	start := time.Now()
	fmt.Fprintf(o.Out, "Bulwark demo: the seed's Color App mesh (%s TLS) and field-level encryption at the edge, on loopback.\n", o.Mode)

	dir, err := tempDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	r.section("Start a Bulwark server with embedded storage",
		"one binary serves ACM PCA, ACM, Secrets Manager, KMS, IAM, EventBridge and App Mesh on one port")
	e, err := startServer(dir)
	if err != nil {
		return err
	}
	defer e.stop()
	r.info("endpoint %s, data in %s", e.endpoint, dir)

	d := &demo{r: r, e: e, dir: dir, opts: o}
	if o.AnyPorts {
		d.port = func(string) string { return "127.0.0.1:0" }
	} else {
		d.port = preferredAddr
	}
	root := e.rootConfig()
	d.pca, d.acm, d.sm, d.mesh = acmpca.NewFromConfig(root), acm.NewFromConfig(root), secretsmanager.NewFromConfig(root), appmesh.NewFromConfig(root)

	steps := []func(context.Context) error{d.stepPKI, d.stepCertificates, d.stepPrincipals, d.stepExport, d.stepMesh}
	if o.Mode != "mtls" {
		steps = append(steps, d.stepOneWay)
	}
	if o.Mode != "one-way" {
		steps = append(steps, d.stepMTLS, d.stepRefusals, d.stepRenewal)
	}
	if o.Edge {
		steps = append(steps, d.stepEdge)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			r.check(false, "%v", err)
			break
		}
	}
	fmt.Fprintf(o.Out, "\n%s in %.1fs.\n", summary(r), time.Since(start).Seconds())
	if r.err() == nil && o.KeepRunning {
		d.printTryIt()
		waitForInterrupt(ctx)
	}
	d.stopProxies()
	return r.err()
}

func summary(r *runner) string {
	if len(r.failed) == 0 {
		return "Every check passed"
	}
	return fmt.Sprintf("%d check(s) FAILED", len(r.failed))
}

func waitForInterrupt(ctx context.Context) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

// errStop ends the demo after a failed check whose later steps depend on.
var errStop = errors.New("stopping: later steps depend on this one")
