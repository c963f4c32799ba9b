package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/bulwarkd/bulwark/internal/acm"
	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/iam"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/pca"
	"github.com/bulwarkd/bulwark/internal/sigv4"
)

// XDSSigningName is the SigV4 service name App Mesh's Envoy image signs its
// xDS stream with (APPMESH_SIGNING_NAME's default).
const XDSSigningName = "appmesh"

// xdsResyncInterval rebuilds every connected node's configuration this
// often when several servers share PostgreSQL: a write on another replica
// notifies only that replica's subscribers.
const xdsResyncInterval = 30 * time.Second

// xdsAPI names the stream in audit events and authorization.
var xdsAPI = &api.Service{Name: "appmesh", EventSource: "appmesh.amazonaws.com"}

// certificates joins ACM (key pairs) and ACM PCA (trust bundles) for SDS.
type certificates struct {
	acm *acm.Service
	pca *pca.Service
}

// KeyPair marks the errors that mean "this certificate cannot be delivered
// any more" (deleted, revoked, not issued, no key here) as
// xds.ErrCertificateUnavailable, so the xDS server withdraws it from data
// planes instead of keeping a stale key in their configuration.
func (c certificates) KeyPair(ctx context.Context, arn string) ([]byte, []byte, error) {
	chain, key, err := c.acm.KeyPair(ctx, arn)
	if err != nil {
		for _, e := range []error{acm.ErrNotFound, acm.ErrInvalidArn, acm.ErrInProgress, acm.ErrValidation, acm.ErrInvalidState} {
			if errors.Is(err, e) {
				return nil, nil, fmt.Errorf("%w: %w", xds.ErrCertificateUnavailable, err)
			}
		}
	}
	return chain, key, err
}

func (c certificates) CACertificate(ctx context.Context, arn string) ([]byte, error) {
	return c.pca.CACertificate(ctx, arn)
}

func (c certificates) Subscribe(fn func(string)) func() {
	a, b := c.acm.Subscribe(fn), c.pca.Subscribe(fn)
	return func() { a(); b() }
}

func (s *Server) buildXDS() {
	c := s.cfg
	resync := time.Duration(0)
	if strings.HasPrefix(c.Storage, "postgres") {
		resync = xdsResyncInterval
	}
	x, err := xds.New(xds.Config{
		Mesh: s.appmesh, Certificates: certificates{s.acm, s.pca}, Authorizer: s,
		Region: c.Region, AccountID: c.AccountID, Logger: c.Logger, Registerer: s.registry,
		ResyncInterval: resync, AuthTimeout: c.XDSAuthTimeout, MaxStreams: c.XDSMaxStreams,
	})
	if err != nil {
		// Only a missing Mesh fails, which buildServices always sets.
		panic(err)
	}
	s.xds = x
	// An IAM write (policy, access key, user) re-authorizes open streams
	// at once; replicas sharing PostgreSQL see other servers' writes at
	// the next resync, which re-authorizes too.
	unsub := s.iam.Subscribe(x.PoliciesChanged)
	s.closeFns = append(s.closeFns, func() error { unsub(); x.Close(); return nil })
}

// XDS returns the xDS management server (tests and benchmarks drive it).
func (s *Server) XDS() *xds.Server { return s.xds }

// ServeXDS serves the aggregated discovery service on ln until Shutdown.
// creds nil serves plaintext HTTP/2, which callers allow on loopback only.
func (s *Server) ServeXDS(ln net.Listener, creds credentials.TransportCredentials) error {
	g := s.xds.NewGRPCServer(creds)
	s.xdsMu.Lock()
	s.grpcServers = append(s.grpcServers, g)
	s.xdsMu.Unlock()
	err := g.Serve(ln)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// stopXDS ends every xDS stream: they are long-lived, so waiting for them
// would never finish. Data planes reconnect to another server and keep
// their configuration meanwhile.
func (s *Server) stopXDS() {
	s.xdsMu.Lock()
	gs := s.grpcServers
	s.grpcServers = nil
	s.xdsMu.Unlock()
	for _, g := range gs {
		g.Stop()
	}
}

// AuthorizeStream implements xds.Authorizer: the stream's SigV4 signature
// (service "appmesh", as App Mesh's Envoy signs it) names the principal,
// the policy engine decides appmesh:StreamAggregatedResources on the
// node's ARN, and the audit log gets exactly one event for the attempt,
// allowed or refused. A stream that cannot be audited is refused. The
// node's metrics stream (xds.MetricsMethod, its stats sink) is decided
// the same way, with requestParameters.stream "StreamMetrics".
func (s *Server) AuthorizeStream(ctx context.Context, r *xds.StreamRequest) error {
	if err := s.audit.Healthy(); err != nil {
		return status.Error(codes.Unavailable, "the audit log cannot be written, so Bulwark refuses streams until an operator fixes it")
	}
	call := api.NewCall(s)
	call.RequestID = newRequestID()
	call.Service, call.Operation = xdsAPI, "StreamAggregatedResources"
	call.AccountID, call.Region = s.cfg.AccountID, s.cfg.Region
	call.SourceIP, call.TLS = r.SourceIP, r.TLS
	call.UserAgent = r.Request.Header.Get("User-Agent")
	call.Time = s.cfg.Clock.Now().UTC()
	call.ReadOnly = true
	call.RequestParameters = map[string]string{"nodeId": r.Node.ARN}
	err := s.authorizeStream(ctx, call, r)
	if r.Request.URL.Path == xds.MetricsMethod {
		// The node's stats sink: authorized as its ADS stream, and its
		// one audit event says which stream it was.
		if m, ok := call.RequestParameters.(map[string]string); ok {
			m["stream"] = "StreamMetrics"
		}
	}
	var werr *awsproto.Error
	if err != nil {
		werr = streamAuditError(err)
	}
	ev := auditEvent(call, route{op: api.Operation{ReadOnly: true}})
	ev.RequestParameters = call.RequestParameters
	ev.Resources = []audit.Resource{{ARN: r.Node.ARN, Type: "AWS::AppMesh::" + upperFirst(r.Node.Kind)}}
	if werr != nil {
		ev.ErrorCode, ev.ErrorMessage = werr.Code, werr.Message
	}
	if aerr := s.appendAudit(ev); aerr != nil {
		return status.Error(codes.Unavailable, "the stream could not be written to the audit log, so it was refused")
	}
	return err
}

func (s *Server) authorizeStream(ctx context.Context, call *api.Call, r *xds.StreamRequest) error {
	signed := r.Request.Header.Get("Authorization") != ""
	if !signed {
		if slices.Contains(r.ClientURIs, r.Node.ARN) {
			// mTLS-authenticated node: the listener verified a client
			// certificate (against XDSClientCAs) that names exactly this
			// resource, which is the authorization.
			call.Principal = api.Principal{ARN: r.Node.ARN}
			call.RequestParameters = map[string]string{"nodeId": r.Node.ARN, "authentication": "client certificate"}
			r.Principal = &xdsPrincipal{s: s, call: *call, auth: authClientCert}
			return nil
		}
		if s.cfg.XDSAllowUnsigned {
			// Configured trust in the network (dev on loopback): the
			// stream is allowed without a principal, and the audit event
			// says so.
			call.Principal = api.Principal{}
			r.Principal = &xdsPrincipal{s: s, call: *call, auth: authUnsigned}
			return nil
		}
		return status.Error(codes.Unauthenticated, "the xDS stream is not signed: sign it with SigV4 under the service name \"appmesh\" (App Mesh's Envoy image does unless ENVOY_ENABLE_IAM_AUTH_FOR_XDS=0)")
	}
	holder := &credHolder{}
	vctx := context.WithValue(ctx, credHolderKey{}, holder)
	res, err := s.verifier.Verify(vctx, r.Request, nil)
	if err == nil && res.Scope.Service != XDSSigningName {
		err = &sigv4.Error{Kind: sigv4.KindBadSignature, Msg: "Credential should be scoped to correct service: '" + XDSSigningName + "'."}
	}
	if err == nil && res.Scope.Region != s.cfg.Region {
		err = &sigv4.Error{Kind: sigv4.KindBadSignature, Msg: "Credential should be scoped to a valid region: '" + s.cfg.Region + "'."}
	}
	if err == nil && res.Presigned {
		err = &sigv4.Error{Kind: sigv4.KindIncomplete, Msg: "An xDS stream must carry its signature in headers."}
	}
	if err != nil {
		if scope, serr := sigv4.ParseScope(r.Request); serr == nil {
			call.Principal = api.Principal{AccessKeyID: scope.AccessKeyID}
		}
		var verr *sigv4.Error
		if errors.As(err, &verr) {
			return status.Error(codes.Unauthenticated, verr.Msg)
		}
		return status.Error(codes.Unavailable, "the signature could not be checked; retry")
	}
	call.Principal = holder.cred.Principal
	if err := call.Authorize(ctx, api.AuthzRequest{Action: "appmesh:StreamAggregatedResources", Resource: r.Node.ARN}); err != nil {
		var ad *awsproto.AccessDenied
		if errors.As(err, &ad) {
			return status.Error(codes.PermissionDenied, ad.Error())
		}
		return status.Error(codes.Unavailable, "the policy could not be evaluated; retry")
	}
	r.Principal = &xdsPrincipal{s: s, call: *call, auth: authSigV4}
	return nil
}

// How a stream was authenticated, which decides what its principal may
// receive.
const (
	authSigV4      = "sigv4"
	authClientCert = "client certificate"
	authUnsigned   = "none"
)

// xdsPrincipal is who an allowed stream acts as: the SigV4 signer, or for
// a client-certificate or unsigned stream, nobody IAM knows.
type xdsPrincipal struct {
	s    *Server
	call api.Call // the stream's authorization call: principal, source, TLS
	auth string
}

// Key names the principal and everything its policy may test: ARN and
// access key (temporary credentials of the same role may carry different
// session policies) and the request context conditions read (aws:SourceIp,
// aws:SecureTransport, aws:UserAgent). Streams share a snapshot, and so a
// certificate decision, only when all of these match: a stolen key used
// from outside an aws:SourceIp condition must not join the snapshot of the
// data plane it was stolen from. Unsigned and client-certificate streams
// are all decided alike (they get no ACM keys).
func (p *xdsPrincipal) Key() string {
	if p.auth == authSigV4 {
		return fmt.Sprintf("sigv4:%s|%s|ip=%s|tls=%t|ua=%s", p.call.Principal.ARN, p.call.Principal.AccessKeyID,
			p.call.SourceIP, p.call.TLS, p.call.UserAgent)
	}
	return p.auth
}

// AuthorizeCertificate implements xds.StreamPrincipal: a signed stream's
// principal must be allowed acm:ExportCertificate on the certificate (its
// identity policies, the certificate's tags as aws:ResourceTag/*), as App
// Mesh required of the Envoy's IAM role. A client-certificate or unsigned
// stream has no IAM principal, so it gets no ACM private key at all: such
// data planes use file or sds certificate sources, or sign their stream.
// record writes one audit event (eventName "StreamSecret", the
// certificate as resource), allowed or refused; if it cannot be written,
// the answer is a refusal.
func (p *xdsPrincipal) AuthorizeCertificate(ctx context.Context, node xds.NodeRef, arn string, record bool) error {
	s := p.s
	call := p.streamCall("StreamSecret")
	var denied *awsproto.AccessDenied
	if p.auth != authSigV4 {
		denied = &awsproto.AccessDenied{Principal: call.Principal.ARN, Action: "acm:ExportCertificate", Resource: arn,
			Reason: "the stream is authenticated by " + p.auth + ", not by an IAM principal; sign it with SigV4 as a principal allowed acm:ExportCertificate, or use a file or sds certificate source"}
	} else if cred, lerr := s.iam.LookupAccessKey(ctx, call.Principal.AccessKeyID); lerr != nil && !errors.Is(lerr, iam.ErrUnknownAccessKey) {
		return fmt.Errorf("the stream's access key could not be read: %w", lerr)
	} else if lerr != nil || !cred.Active {
		// The stream was signed when it opened; a key deactivated or
		// deleted since must not keep receiving (renewed) private keys.
		denied = &awsproto.AccessDenied{Principal: call.Principal.ARN, Action: "acm:ExportCertificate", Resource: arn,
			Reason: "the access key that signed the stream is no longer active; reconnect with an active key"}
	} else if aerr := call.Authorize(ctx, api.AuthzRequest{Action: "acm:ExportCertificate", Resource: arn}); aerr != nil {
		if !errors.As(aerr, &denied) {
			// Not a decision (the store could not be read): the
			// rebuild fails and the data plane keeps what it has.
			return fmt.Errorf("the policy could not be evaluated: %w", aerr)
		}
	}
	var err error
	if denied != nil {
		err = fmt.Errorf("%w: %w", xds.ErrCertificateDenied, denied)
	}
	if !record {
		return err
	}
	// Not read-only, as the API's acm:ExportCertificate is not: a
	// read-only event is answered before its fsync (ReadSyncDelay), and
	// the record of a private key handed out must be on disk before the
	// key leaves.
	call.ReadOnly = false
	ev := auditEvent(call, route{op: api.Operation{ReadOnly: false}})
	ev.RequestParameters = map[string]string{"nodeId": node.ARN, "certificateArn": arn, "authentication": p.auth}
	ev.Resources = []audit.Resource{{ARN: arn, Type: "AWS::CertificateManager::Certificate"}, {ARN: node.ARN, Type: "AWS::AppMesh::" + upperFirst(node.Kind)}}
	if denied != nil {
		ev.ErrorCode, ev.ErrorMessage = "AccessDeniedException", denied.Error()
	}
	if aerr := s.appendAudit(ev); aerr != nil && err == nil {
		return errors.New("the certificate's delivery could not be written to the audit log")
	}
	return err
}

// streamCall is a call for one authorization decision made on behalf
// of the stream's principal, in the request context the stream opened
// with (source address, TLS, user agent), at the server's time.
func (p *xdsPrincipal) streamCall(op string) *api.Call {
	call := api.NewCall(p.s)
	call.RequestID = newRequestID()
	call.Service, call.Operation = xdsAPI, op
	call.AccountID, call.Region = p.call.AccountID, p.call.Region
	call.SourceIP, call.TLS, call.UserAgent = p.call.SourceIP, p.call.TLS, p.call.UserAgent
	call.Principal = p.call.Principal
	call.Time = p.s.cfg.Clock.Now().UTC()
	call.ReadOnly = true
	return call
}

// Reauthorize implements xds.StreamReauthorizer for signed streams: the
// access key that signed the stream must still be active (and exist) and
// its principal still be allowed appmesh:StreamAggregatedResources on the
// node. The server asks on every rebuild of the node, and an IAM write
// causes one. A revocation is audited (eventName
// StreamAggregatedResources, errorCode AccessDeniedException); it stands
// even if the event cannot be written, as refusing is the safe side.
// Client-certificate and unsigned streams have no IAM principal to
// re-evaluate.
func (p *xdsPrincipal) Reauthorize(ctx context.Context, node xds.NodeRef) error {
	if p.auth != authSigV4 {
		return nil
	}
	s := p.s
	call := p.streamCall("StreamAggregatedResources")
	var denied *awsproto.AccessDenied
	if cred, lerr := s.iam.LookupAccessKey(ctx, call.Principal.AccessKeyID); lerr != nil && !errors.Is(lerr, iam.ErrUnknownAccessKey) {
		return fmt.Errorf("the stream's access key could not be read: %w", lerr)
	} else if lerr != nil || !cred.Active {
		denied = &awsproto.AccessDenied{Principal: call.Principal.ARN, Action: "appmesh:StreamAggregatedResources", Resource: node.ARN,
			Reason: "the access key that signed the stream is no longer active; reconnect with an active key"}
	} else if aerr := call.Authorize(ctx, api.AuthzRequest{Action: "appmesh:StreamAggregatedResources", Resource: node.ARN}); aerr != nil {
		if !errors.As(aerr, &denied) {
			return fmt.Errorf("the policy could not be evaluated: %w", aerr)
		}
	}
	if denied == nil {
		return nil
	}
	ev := auditEvent(call, route{op: api.Operation{ReadOnly: true}})
	ev.RequestParameters = map[string]string{"nodeId": node.ARN, "reauthorization": "true"}
	ev.Resources = []audit.Resource{{ARN: node.ARN, Type: "AWS::AppMesh::" + upperFirst(node.Kind)}}
	ev.ErrorCode, ev.ErrorMessage = "AccessDeniedException", denied.Error()
	if aerr := s.appendAudit(ev); aerr != nil && s.cfg.Logger != nil {
		s.cfg.Logger.Error("xds: a stream revocation could not be written to the audit log; it is revoked anyway", "node", node.ARN, "err", aerr)
	}
	return fmt.Errorf("%w: %w", xds.ErrStreamRevoked, denied)
}

// streamAuditError is the audit log's errorCode for a refused stream.
func streamAuditError(err error) *awsproto.Error {
	st, _ := status.FromError(err)
	code := "AccessDeniedException"
	switch st.Code() {
	case codes.Unauthenticated:
		code = "UnrecognizedClientException"
	case codes.Unavailable:
		code = awsproto.CodeServiceUnavailable
	}
	return &awsproto.Error{Code: code, Message: st.Message()}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
