package certsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// ErrNoEndpoint is returned by LoadAWSConfig when no endpoint is
// configured and AWS's own endpoints were not asked for.
var ErrNoEndpoint = errors.New("no API endpoint: give --endpoint URL or set AWS_ENDPOINT_URL to your Bulwark server " +
	"(pass --aws to use AWS's own endpoints and its EC2 metadata service for credentials)")

// AWSOptions say how LoadAWSConfig builds the clients' configuration.
type AWSOptions struct {
	// Endpoint, when not empty, is the base endpoint of every client (the
	// --endpoint flag); it wins over AWS_ENDPOINT_URL and endpoint_url in
	// the shared config file.
	Endpoint string
	// AllowAWS (the --aws flag) permits what a command otherwise refuses:
	// running with no endpoint configured, so the SDK reaches AWS's own
	// regional endpoints, and credentials from the EC2/ECS metadata
	// service. Without it a missing endpoint is ErrNoEndpoint and the
	// metadata service is never asked: a Bulwark client that silently
	// talked to AWS would send its requests, signed, to the wrong place.
	AllowAWS bool
	// Region, when not empty, overrides the configured region.
	Region string
}

// LoadAWSConfig loads the standard AWS configuration chain (environment
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION /
// AWS_ENDPOINT_URL, shared config and credentials files, …) for the
// certs, renewer, proxy and edge commands, and returns the endpoint in
// use ("AWS" when AllowAWS let it fall back) so the command can print it.
func LoadAWSConfig(ctx context.Context, o AWSOptions) (aws.Config, string, error) {
	var opts []func(*config.LoadOptions) error
	if o.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(o.Endpoint))
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if !o.AllowAWS {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, "", fmt.Errorf("AWS configuration: %w", err)
	}
	endpoint := aws.ToString(cfg.BaseEndpoint)
	if endpoint == "" {
		if !o.AllowAWS {
			return aws.Config{}, "", ErrNoEndpoint
		}
		endpoint = "AWS"
	}
	return cfg, endpoint, nil
}
