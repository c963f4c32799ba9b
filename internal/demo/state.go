package demo

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/proxy"
)

// demo carries what the steps build for the ones after them.
type demo struct {
	r *runner
	e *env
	// port picks a listen address: the seed's when free, or any.
	port func(preferred string) string
	dir  string
	opts Options

	pca  *acmpca.Client
	acm  *acm.Client
	sm   *secretsmanager.Client
	mesh *appmesh.Client

	gatewayCA, tellerCA *hierarchy
	tellerCert          string // ACM ARN of ColorTeller's server certificate
	gatewayCert         string // ACM ARN of ColorGateway's client certificate

	tellerProxyCfg, gatewayProxyCfg, renewerCfg aws.Config

	app      *colorApp
	sidecar  *runningProxy
	gateway  *runningProxy
	proxyMu  sync.Mutex
	proxies  []*runningProxy
	edgeAddr string
}

// runningProxy is a Bulwark proxy started by the demo.
type runningProxy struct {
	p      *proxy.Proxy
	cancel context.CancelFunc
	done   chan error
}

func (d *demo) stopProxies() {
	d.proxyMu.Lock()
	defer d.proxyMu.Unlock()
	for _, p := range d.proxies {
		p.cancel()
		<-p.done
	}
	d.proxies = nil
}

// principal creates an IAM user through the IAM API with one inline
// policy and returns SDK configuration for its new access key.
func (d *demo) principal(ctx context.Context, name string, statements ...string) (aws.Config, error) {
	return d.principalDoc(ctx, name, `{"Version":"2012-10-17","Statement":[`+strings.Join(statements, ",")+`]}`)
}

// principalDoc is principal with a whole policy document.
func (d *demo) principalDoc(ctx context.Context, name, doc string) (aws.Config, error) {
	c := iam.NewFromConfig(d.e.rootConfig())
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		return aws.Config{}, err
	}
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("least-privilege"), PolicyDocument: aws.String(doc)}); err != nil {
		return aws.Config{}, err
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		return aws.Config{}, err
	}
	return d.e.config(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)), nil
}

// errCode is the AWS error code of err, or its text.
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func isAccessDenied(err error) bool {
	c := errCode(err)
	return c == "AccessDeniedException" || c == "AccessDenied"
}
