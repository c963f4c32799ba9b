package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
)

// Protocol is the AWS wire protocol a service speaks.
type Protocol int

const (
	// JSON11 is the awsJson1_1 protocol: POST /, X-Amz-Target: Prefix.Operation.
	JSON11 Protocol = iota
	// Query is the awsQuery protocol: form-encoded Action=…, XML responses.
	Query
	// RESTJSON is the restJson1 protocol: the operation is chosen by HTTP
	// method and path (App Mesh's /v20190125/meshes/{meshName}…).
	RESTJSON
	// RPCv2CBOR is Smithy RPC v2 CBOR, which newer SDKs use for some JSON
	// services. It is never a service's own protocol: the server serves
	// every JSON11 service in it too, transcoding at the edge, so handlers
	// only ever see JSON.
	RPCv2CBOR
)

// RESTRoute maps an HTTP method and a path pattern to an operation. In the
// pattern, a segment "{name}" captures one path segment into
// Call.PathParams["name"] (URL-decoded).
type RESTRoute struct {
	Method    string
	Path      string
	Operation string
}

// Service describes one hosted API.
type Service struct {
	// Name is the SigV4 signing name and the metrics label ("kms").
	Name string
	// EventSource is the audit log's eventSource ("kms.amazonaws.com").
	EventSource string
	Protocol    Protocol
	// TargetPrefix routes JSON 1.1 requests ("TrentService").
	TargetPrefix string
	// XMLNamespace is the Query protocol's response namespace.
	XMLNamespace string
	// Operations maps the operation name ("Decrypt") to its handler, built
	// with one of the typed adapters (JSON, REST, Form).
	Operations map[string]Operation
	// Errors is the service's one table of domain errors and their wire
	// codes and statuses; the typed adapters convert every error a handler
	// returns through it. nil converts nothing: only *awsproto.Error and
	// *awsproto.AccessDenied then reach the caller, anything else is an
	// InternalFailure.
	Errors awsproto.ErrorTable
	// REST routes requests to Operations for RESTJSON services.
	REST []RESTRoute
	// Routes are extra, unauthenticated HTTP endpoints by path prefix
	// (a CA's CRLs at "/crl/", its OCSP responder); nil for none.
	Routes map[string]http.Handler
	// Run, when set, is started by the server in its own goroutine for
	// background work (event delivery, scheduled deletion, renewal) and
	// must return when ctx ends.
	Run func(ctx context.Context)
	// ResourceTags returns the tags of the resource an ARN names, for the
	// condition keys aws:ResourceTag/<key>. The server calls it for every
	// authorization whose resource ARN names this service (by the ARN's
	// service field, Name) and whose AuthzRequest.ResourceTags is nil. It
	// returns nil and no error for an ARN that names no resource of this
	// service that has tags (not yet created, a pattern, an alias); any
	// error refuses the call. nil means the service has no tagged
	// resources, and a Deny conditioned on a resource tag never applies to
	// them.
	ResourceTags func(ctx context.Context, arn string) (map[string]string, error)
}

// Operation is one API action.
type Operation struct {
	Handler Handler
	// ReadOnly marks operations that change nothing (the audit log's
	// readOnly field).
	ReadOnly bool
	// NoAuthz marks the rare operation that AWS answers for every
	// authenticated caller without a policy check (sts:GetCallerIdentity).
	// Every other operation must call Call.Authorize before it succeeds:
	// the server refuses the result of one that did not, so a handler that
	// forgets its policy check fails closed instead of open.
	NoAuthz bool
}

// Handler runs one operation. It returns the output shape (rendered by the
// server in the service's protocol) or an error: an *awsproto.Error or
// *awsproto.AccessDenied reaches the caller as is; anything else is logged
// and becomes InternalFailure. Services build handlers with the typed
// adapters (JSON, REST, Query), which convert domain errors through
// Service.Errors first.
type Handler func(ctx context.Context, c *Call) (any, error)

// PrincipalType is the audit log's userIdentity.type.
type PrincipalType string

// Principal types.
const (
	Root    PrincipalType = "Root"
	IAMUser PrincipalType = "IAMUser"
)

// Principal is the authenticated caller.
type Principal struct {
	Type        PrincipalType
	ARN         string
	AccountID   string
	UserName    string
	UserID      string // principalId
	AccessKeyID string
}

// AuthzRequest asks whether the caller may perform Action on Resource.
type AuthzRequest struct {
	Action   string // "kms:Decrypt"
	Resource string // ARN
	// ResourcePolicy is the key policy, secret policy or CA policy, if
	// the resource has one.
	ResourcePolicy *policy.Policy
	// Mode is policy.KeyPolicy for KMS keys: the key policy must allow.
	Mode policy.Mode
	// Context holds service condition keys ("kms:EncryptionAlgorithm");
	// the global keys (aws:SourceIp, aws:username…), aws:ResourceTag/*,
	// and, from a request's Tags or TagKeys member, aws:RequestTag/* and
	// aws:TagKeys are added for you.
	Context map[string][]string
	// ResourceTags are the tags of Resource when the handler already has
	// it loaded (a non-nil empty map for none); nil makes the server look
	// them up through the owning service's Service.ResourceTags.
	ResourceTags map[string]string
}

// Authorizer decides for one caller.
type Authorizer interface {
	Authorize(ctx context.Context, c *Call, req AuthzRequest) error
}

// Call is one API request as a handler sees it.
type Call struct {
	RequestID string
	Service   *Service
	Operation string
	Principal Principal
	// AccountID and Region are the server's: every resource ARN is built
	// from them.
	AccountID string
	Region    string
	SourceIP  string
	UserAgent string
	// TLS reports whether the request arrived over TLS (the policy key
	// aws:SecureTransport).
	TLS bool
	// Time is when the request arrived, from the server's clock.
	Time time.Time
	// Body is the raw JSON body (JSON 1.1, REST-JSON); Form the
	// parameters (Query).
	Body []byte
	Form url.Values
	// PathParams and Query are a REST-JSON request's path captures and
	// query string.
	PathParams map[string]string
	Query      url.Values
	// HTTPStatus, when set by a REST-JSON handler, replaces 200 on
	// success.
	HTTPStatus int
	// ReadOnly is the operation's ReadOnly flag: read-only calls leave
	// responseElements empty in the audit log, as CloudTrail does, which
	// also keeps large outputs (a secret value, a certificate chain) from
	// being copied for an event that would hide them anyway.
	ReadOnly bool

	authz      Authorizer
	authorized bool

	// The handler's contribution to the audit event. The typed adapters
	// fill the first two for you, redacted.
	RequestParameters any
	ResponseElements  any
	Resources         []Resource
}

// Resource is an ARN the call acted on, for the audit log.
type Resource struct {
	ARN  string `json:"ARN"`
	Type string `json:"type,omitempty"`
}

// NewCall binds a call to its authorizer. Only the server makes calls; tests
// of a service use the server's test helper.
func NewCall(authz Authorizer) *Call { return &Call{authz: authz} }

// Authorize asks the server's policy engine whether the caller may perform
// req.Action on req.Resource and records the resource for the audit log.
// A refusal is an *awsproto.AccessDenied.
func (c *Call) Authorize(ctx context.Context, req AuthzRequest) error {
	c.authorized = true
	if req.Resource != "" {
		c.addResource(req.Resource)
	}
	if c.authz == nil {
		return &awsproto.AccessDenied{Principal: c.Principal.ARN, Action: req.Action, Resource: req.Resource, Reason: "no authorizer is configured"}
	}
	return c.authz.Authorize(ctx, c, req)
}

// Authorized reports whether the handler asked for authorization.
func (c *Call) Authorized() bool { return c.authorized }

func (c *Call) addResource(arn string) {
	for _, r := range c.Resources {
		if r.ARN == arn {
			return
		}
	}
	c.Resources = append(c.Resources, Resource{ARN: arn})
}
