package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/console"
	"github.com/bulwarkd/bulwark/internal/iam"
	"github.com/bulwarkd/bulwark/internal/ids"
	"github.com/bulwarkd/bulwark/internal/sigv4"
	"github.com/bulwarkd/bulwark/internal/store"
)

// ServeHTTP is the single entry point of every API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		s.serveHealth(w)
		return
	case "/readyz":
		s.serveReady(w)
		return
	case "/metrics":
		s.serveMetrics(w, r)
		return
	}
	if console.Owns(r.URL.Path) {
		// Static files only, before the API dispatch: the console signs
		// its API calls in the browser and sends them to / like any client.
		s.console.ServeHTTP(w, r)
		return
	}
	if h := s.routeFor(r.URL.Path); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	start := s.cfg.Clock.Now()
	call := api.NewCall(s)
	call.RequestID = newRequestID()
	call.AccountID, call.Region = s.cfg.AccountID, s.cfg.Region
	call.SourceIP = sourceIP(r)
	call.UserAgent = r.UserAgent()
	call.TLS = r.TLS != nil
	call.Time = start.UTC()

	lease := &bodyLease{b: s.bodies}
	defer lease.release()
	route, body, rerr := s.route(r, lease)
	route.lease = lease
	call.Service, call.Operation = route.service, route.operation
	var shed *awsproto.Error
	if route.shed && errors.As(rerr, &shed) {
		// Load shedding (or a connection shed while its body arrived):
		// nothing ran and nobody is known, and writing an audit event for
		// each would let a flood spend the disk that signed calls wait
		// on. The metrics count them.
		s.renderError(w, call, route, shed)
		s.metrics.observe(call.Service.Name, call.Operation, shed.Code, time.Since(start))
		return
	}
	var out any
	err := rerr
	if err == nil {
		call.Body, call.Form = body, route.form
		call.PathParams, call.Query = route.params, route.query
		call.ReadOnly = route.op.ReadOnly
		out, err = s.dispatch(r, call, route)
	}
	s.finish(w, r, call, route, out, err, start)
}

// route is where a request goes and how its answer is rendered.
type route struct {
	protocol  api.Protocol
	service   *api.Service
	operation string
	op        api.Operation
	form      url.Values
	// raw is the body as received, which the signature covers (a CBOR
	// body is transcoded for the handler).
	raw    []byte
	params map[string]string
	query  url.Values
	// namespace renders Query errors even when no service was found.
	namespace string
	// lease holds the body's share of the unauthenticated budget until
	// the signature is verified.
	lease *bodyLease
	// shed is set when the body was refused for lack of budget or could
	// not be read (the client or the connection cap closed it). What is
	// left of it net/http discards, or closes the connection if it is
	// large.
	shed bool
}

var unknownService = &api.Service{Name: "unknown", EventSource: "unknown"}

// route reads the body and finds the service and operation. It returns
// the route even on error, so the error is rendered in the right protocol.
func (s *Server) route(r *http.Request, lease *bodyLease) (route, []byte, error) {
	rt := route{protocol: api.JSON11, service: unknownService, operation: "Unknown"}
	target := r.Header.Get("X-Amz-Target")
	var restSvc *api.Service
	var restOp string
	var restParams map[string]string
	var methodMismatch bool
	switch {
	case target != "":
	case r.Header.Get(awsproto.SmithyProtocolHeader) == "rpc-v2-cbor":
		rt.protocol = api.RPCv2CBOR
	case isQuery(r):
		rt.protocol = api.Query
		rt.namespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	default:
		restSvc, restOp, restParams, methodMismatch = s.rest.match(r)
		if restSvc != nil || methodMismatch || r.URL.Path != "/" {
			rt.protocol = api.RESTJSON
		}
	}
	var body []byte
	var err error
	scope, serr := sigv4.ParseScope(r)
	if serr == nil {
		body, err = s.readBody(r, lease)
	}
	// else: without a well-formed signature the request is refused
	// whatever its body says, so an unsigned flood costs no reading.
	if err != nil {
		var e *awsproto.Error
		rt.shed = errors.Is(err, errBusy) || (errors.As(err, &e) && e.Code == awsproto.CodeSerialization)
		return rt, nil, err
	}
	rt.raw = body
	if rt.protocol == api.RPCv2CBOR {
		return s.routeCBOR(r, rt)
	}
	if rt.protocol == api.RESTJSON {
		if restSvc == nil {
			status := http.StatusNotFound
			if methodMismatch {
				status = http.StatusMethodNotAllowed
			}
			return rt, nil, &awsproto.Error{Code: awsproto.CodeUnknownOperation, Message: fmt.Sprintf("No operation at %s %s", r.Method, r.URL.Path), Status: status}
		}
		rt.service, rt.operation, rt.op = restSvc, restOp, restSvc.Operations[restOp]
		rt.params, rt.query = restParams, r.URL.Query()
		return rt, body, nil
	}
	if rt.protocol == api.JSON11 {
		if target == "" {
			return rt, nil, awsproto.Errorf(awsproto.CodeUnknownOperation, "Missing the X-Amz-Target header: Bulwark serves the AWS JSON 1.1 APIs at POST / (and IAM/STS in the Query protocol)")
		}
		prefix, op, _ := strings.Cut(target, ".")
		svc := s.jsonServices[prefix]
		if svc == nil {
			return rt, nil, awsproto.Errorf(awsproto.CodeUnknownOperation, "Unknown service target prefix %q", prefix)
		}
		rt.service, rt.operation = svc, op
		o, ok := svc.Operations[op]
		if !ok {
			return rt, nil, awsproto.Errorf(awsproto.CodeUnknownOperation, "Unknown operation %s for service %s", op, svc.Name)
		}
		rt.op = o
		return rt, body, nil
	}
	form, err := queryForm(r, body)
	if err != nil {
		return rt, nil, err
	}
	rt.form = form
	svc := s.queryServices[scope.Service]
	if serr != nil || svc == nil {
		// Unauthenticated or unknown scope: authentication will refuse it
		// (or it names a service we do not host).
		if serr == nil {
			return rt, nil, awsproto.Errorf(awsproto.CodeInvalidAction, "The credential scope names service %q, which Bulwark does not serve in the Query protocol (iam, sts)", scope.Service)
		}
		rt.operation = form.Get("Action")
		return rt, body, nil
	}
	rt.service, rt.namespace = svc, svc.XMLNamespace
	rt.operation = form.Get("Action")
	o, ok := svc.Operations[rt.operation]
	if !ok {
		return rt, nil, &awsproto.Error{Code: awsproto.CodeInvalidAction, Message: fmt.Sprintf("Could not find operation %s for version %s", rt.operation, form.Get("Version")), Status: http.StatusBadRequest}
	}
	rt.op = o
	return rt, body, nil
}

// routeCBOR finds a JSON 1.1 service's operation from the RPC v2 path
// /service/<ServiceName>/operation/<Operation> (the Smithy service name is
// the JSON target prefix). The body is transcoded to JSON only once its
// signature is verified (in dispatch): decoding costs more than reading,
// and nobody unauthenticated gets to spend it.
func (s *Server) routeCBOR(r *http.Request, rt route) (route, []byte, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/service/")
	svcName, op, ok2 := strings.Cut(rest, "/operation/")
	if !ok || !ok2 || r.Method != http.MethodPost {
		return rt, nil, &awsproto.Error{Code: awsproto.CodeUnknownOperation, Message: "RPC v2 requests are POST /service/<service>/operation/<operation>", Status: http.StatusNotFound}
	}
	svc := s.jsonServices[svcName]
	if svc == nil {
		return rt, nil, &awsproto.Error{Code: awsproto.CodeUnknownOperation, Message: fmt.Sprintf("Unknown service %q", svcName), Status: http.StatusNotFound}
	}
	rt.service, rt.operation = svc, op
	o, ok := svc.Operations[op]
	if !ok {
		return rt, nil, &awsproto.Error{Code: awsproto.CodeUnknownOperation, Message: fmt.Sprintf("Unknown operation %s for service %s", op, svc.Name), Status: http.StatusNotFound}
	}
	rt.op = o
	return rt, nil, nil
}

func isQuery(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("Action") != ""
	}
	ct := r.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "application/x-www-form-urlencoded")
}

// queryForm merges the form body and the URL query (presigned requests
// carry the action in the URL), without the presigning parameters.
func queryForm(r *http.Request, body []byte) (url.Values, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, awsproto.Errorf("MalformedQueryString", "The request body is not a valid form: %v", err)
	}
	for k, vs := range r.URL.Query() {
		if strings.HasPrefix(k, "X-Amz-") {
			continue
		}
		form[k] = append(form[k], vs...)
	}
	return form, nil
}

func (s *Server) readBody(r *http.Request, lease *bodyLease) ([]byte, error) {
	b, err := readBody(r.Body, r.ContentLength, s.cfg.MaxBodyBytes, lease)
	if errors.Is(err, errBusy) {
		s.metrics.bodiesShed.Inc()
	}
	return b, err
}

func bodyTooLarge(limit int64) error {
	return awsproto.Validation("The request body exceeds Bulwark's limit of %d bytes", limit)
}

// credHolder carries the credential found while verifying the signature
// out of the verifier's Lookup callback, so a request reads its access key
// once.
type credHolder struct{ cred *iam.Credential }

type credHolderKey struct{}

// dispatch authenticates the call and runs the operation.
func (s *Server) dispatch(r *http.Request, call *api.Call, rt route) (any, error) {
	if err := s.audit.Healthy(); err != nil {
		// Fail closed: a call that cannot be audited is not run.
		return nil, &awsproto.Error{Code: awsproto.CodeServiceUnavailable, Message: "The audit log cannot be written, so Bulwark refuses requests until an operator fixes it.", Status: http.StatusServiceUnavailable, Receiver: true}
	}
	holder := &credHolder{}
	ctx := context.WithValue(r.Context(), credHolderKey{}, holder)
	verifyStart := time.Now()
	res, err := s.verifier.Verify(ctx, r, rt.raw)
	if err == nil && res.UnsignedPayload && len(rt.raw) > 0 {
		// AWS accepts UNSIGNED-PAYLOAD only for S3; here it would leave a
		// request body that nobody signed, so only empty bodies may use it.
		err = &sigv4.Error{Kind: sigv4.KindIncomplete, Msg: "UNSIGNED-PAYLOAD is accepted only for requests without a body: sign the payload hash."}
	}
	if err == nil {
		err = checkBinding(r, rt, res)
	}
	s.metrics.stage.WithLabelValues("sigv4").Observe(time.Since(verifyStart).Seconds())
	if err != nil {
		// The claimed key id is worth recording; the principal is not
		// named because nothing was proven.
		if scope, serr := sigv4.ParseScope(r); serr == nil {
			call.Principal = api.Principal{AccessKeyID: scope.AccessKeyID}
		}
		var verr *sigv4.Error
		if errors.As(err, &verr) {
			return nil, authError(rt.protocol, verr)
		}
		return nil, err
	}
	call.Principal = holder.cred.Principal
	// Authenticated: the body is the signer's, no longer a stranger's, and
	// the connection is not closed to make room for others.
	if rt.lease != nil {
		rt.lease.release()
	}
	s.conns.authenticated(r.Context())
	if rt.protocol == api.RPCv2CBOR {
		jsonBody, err := awsproto.CBORToJSON(rt.raw)
		if err != nil {
			return nil, err
		}
		call.Body = jsonBody
	}
	if rt.op.Handler == nil {
		return nil, awsproto.Errorf(awsproto.CodeInvalidAction, "Missing Action parameter")
	}
	if !rt.op.ReadOnly {
		// Write-ahead: a call that may change something is on disk before
		// it runs, so a failure to write its outcome afterwards cannot
		// leave a committed change without a record.
		if err := s.writeIntent(call, rt); err != nil {
			return nil, &awsproto.Error{Code: awsproto.CodeServiceUnavailable, Message: "The call could not be written to the audit log, so it was not run. Retry once the operator has fixed the audit log.", Status: http.StatusServiceUnavailable, Receiver: true}
		}
	}
	out, err := rt.op.Handler(r.Context(), call)
	if err == nil && !call.Authorized() && !rt.op.NoAuthz {
		// A handler that skipped its policy check must not succeed.
		return nil, fmt.Errorf("operation %s.%s returned without authorizing its caller", call.Service.Name, call.Operation)
	}
	return out, err
}

// checkBinding refuses a valid signature that does not cover what routed
// the request: without it a signature made for one service or operation
// (a presigned sts:GetCallerIdentity URL signs only the host) could be
// replayed with another X-Amz-Target and run as its signer.
func checkBinding(r *http.Request, rt route, res *sigv4.Result) error {
	if res.Scope.Service != rt.service.Name {
		return &sigv4.Error{Kind: sigv4.KindBadSignature, Msg: fmt.Sprintf("Credential should be scoped to correct service: '%s'. The credential scope names service %s but the request is for %s.", rt.service.Name, res.Scope.Service, rt.service.Name)}
	}
	switch rt.protocol {
	case api.JSON11:
		// The operation comes from X-Amz-Target, so the signature must
		// cover it; the RPC v2 path and the REST method and path are
		// always in the canonical request.
		if r.Method != http.MethodPost {
			return &sigv4.Error{Kind: sigv4.KindIncomplete, Msg: fmt.Sprintf("AWS JSON 1.1 requests must be POST, not %s.", r.Method)}
		}
		if !slices.Contains(res.SignedHeaders, "x-amz-target") {
			return &sigv4.Error{Kind: sigv4.KindIncomplete, Msg: "The X-Amz-Target header names the operation, so it must be among the SignedHeaders."}
		}
	case api.RPCv2CBOR:
		if r.Method != http.MethodPost {
			return &sigv4.Error{Kind: sigv4.KindIncomplete, Msg: fmt.Sprintf("RPC v2 requests must be POST, not %s.", r.Method)}
		}
	}
	return nil
}

// authError maps a SigV4 failure to the code each protocol's clients
// expect.
func authError(p api.Protocol, e *sigv4.Error) *awsproto.Error {
	type codes struct {
		json, query string
		status      int
	}
	var c codes
	switch e.Kind {
	case sigv4.KindMissing:
		c = codes{"MissingAuthenticationTokenException", "MissingAuthenticationToken", http.StatusForbidden}
	case sigv4.KindIncomplete:
		c = codes{"IncompleteSignatureException", "IncompleteSignature", http.StatusBadRequest}
	case sigv4.KindUnknownKey:
		c = codes{"UnrecognizedClientException", "InvalidClientTokenId", http.StatusForbidden}
	case sigv4.KindExpired:
		c = codes{"RequestExpired", "RequestExpired", http.StatusBadRequest}
		if strings.HasPrefix(e.Msg, "Signature expired") || strings.HasPrefix(e.Msg, "Signature not yet current") {
			// A skewed clock on a signed header: the SDKs recognise these
			// codes and correct their clock offset before retrying.
			c = codes{"InvalidSignatureException", "SignatureDoesNotMatch", http.StatusForbidden}
		}
	default:
		c = codes{"InvalidSignatureException", "SignatureDoesNotMatch", http.StatusForbidden}
	}
	code := c.json
	if p == api.Query {
		code = c.query
	}
	return &awsproto.Error{Code: code, Message: e.Msg, Status: c.status}
}

// finish renders the answer, writes the audit event and records metrics.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, call *api.Call, rt route, out any, err error, start time.Time) {
	clientGone := r.Context().Err() != nil
	var werr *awsproto.Error
	if err != nil {
		deniedCode := awsproto.CodeAccessDenied
		if rt.protocol == api.Query {
			deniedCode = "AccessDenied"
		}
		werr = awsproto.As(err, deniedCode, call.RequestID)
		if errors.Is(err, context.Canceled) && clientGone {
			// The client hung up; nobody reads this answer, and it is no
			// server fault worth an error log.
			werr = &awsproto.Error{Code: "RequestCanceled", Message: "The client closed the connection before the response.", Status: 499}
		} else if errors.Is(err, store.ErrUnavailable) {
			// Retryable: the SDKs retry 503s, and nothing was committed.
			werr = &awsproto.Error{Code: awsproto.CodeServiceUnavailable, Message: "The storage backend is unavailable; retry shortly. Request ID: " + call.RequestID, Status: http.StatusServiceUnavailable, Receiver: true}
			s.cfg.Logger.Warn("storage unavailable", "requestId", call.RequestID, "err", err)
		}
		if werr.Code == awsproto.CodeInternalFailure && !clientGone {
			s.cfg.Logger.Error("request failed", "requestId", call.RequestID, "service", call.Service.Name, "operation", call.Operation, "err", err)
		}
		var denied *awsproto.AccessDenied
		if errors.As(err, &denied) && rt.protocol == api.Query {
			werr.Status = http.StatusForbidden
		}
	}
	auditStart := time.Now()
	if aerr := s.writeAudit(call, rt, werr); aerr != nil {
		// The call ran but cannot be recorded: the caller gets an error,
		// never an unaudited success.
		werr = &awsproto.Error{Code: awsproto.CodeServiceUnavailable, Message: "The call could not be written to the audit log; its outcome is unknown. Retry once the operator has fixed the audit log.", Status: http.StatusServiceUnavailable, Receiver: true}
	}
	s.metrics.stage.WithLabelValues("audit").Observe(time.Since(auditStart).Seconds())

	code := "OK"
	if werr != nil {
		code = werr.Code
		s.renderError(w, call, rt, werr)
	} else if rerr := s.renderOK(w, call, rt, out); rerr != nil {
		s.cfg.Logger.Error("render response", "requestId", call.RequestID, "err", rerr)
	}
	s.metrics.observe(call.Service.Name, call.Operation, code, time.Since(start))
	if s.cfg.Logger.Enabled(r.Context(), slog.LevelDebug) {
		// Checked first: the arguments alone cost allocations on every
		// request.
		s.cfg.Logger.Debug("request", "requestId", call.RequestID, "service", call.Service.Name, "operation", call.Operation, "principal", call.Principal.ARN, "code", code)
	}
}

func (s *Server) renderOK(w http.ResponseWriter, call *api.Call, rt route, out any) error {
	switch rt.protocol {
	case api.RPCv2CBOR:
		return awsproto.WriteCBOR(w, call.RequestID, out)
	case api.Query:
		return awsproto.WriteQuery(w, call.Operation, rt.namespace, call.RequestID, out)
	case api.RESTJSON:
		return awsproto.WriteRESTJSON(w, call.HTTPStatus, call.RequestID, out)
	}
	return awsproto.WriteJSON(w, call.RequestID, out)
}

func (s *Server) renderError(w http.ResponseWriter, call *api.Call, rt route, e *awsproto.Error) {
	switch rt.protocol {
	case api.RPCv2CBOR:
		awsproto.WriteCBORError(w, call.RequestID, e)
		return
	case api.Query:
		awsproto.WriteQueryError(w, rt.namespace, call.RequestID, e)
		return
	case api.RESTJSON:
		awsproto.WriteRESTJSONError(w, call.RequestID, e)
		return
	}
	awsproto.WriteJSONError(w, call.RequestID, e)
}

// auditEvent is the event of call as far as it is known.
func auditEvent(call *api.Call, rt route) *audit.Event {
	p := call.Principal
	idType := string(p.Type)
	if idType == "" {
		idType = audit.IdentityUnknown
	}
	return &audit.Event{
		EventVersion:       audit.EventVersion,
		EventTime:          call.Time,
		EventSource:        call.Service.EventSource,
		EventName:          call.Operation,
		AWSRegion:          call.Region,
		SourceIPAddress:    call.SourceIP,
		UserAgent:          call.UserAgent,
		UserIdentity:       audit.UserIdentity{Type: idType, PrincipalID: p.UserID, ARN: p.ARN, AccountID: p.AccountID, AccessKeyID: p.AccessKeyID, UserName: p.UserName},
		RequestID:          call.RequestID,
		ReadOnly:           rt.op.ReadOnly,
		EventType:          audit.EventTypeAPICall,
		RecipientAccountID: call.AccountID,
	}
}

// writeIntent records that an authenticated call that may change something
// is about to run; its outcome event (same requestID) follows.
func (s *Server) writeIntent(call *api.Call, rt route) error {
	ev := auditEvent(call, rt)
	ev.EventType = audit.EventTypeIntent
	return s.appendAudit(ev)
}

// writeAudit records the outcome of call: exactly one such event per call.
func (s *Server) writeAudit(call *api.Call, rt route, werr *awsproto.Error) error {
	ev := auditEvent(call, rt)
	ev.RequestParameters, ev.ResponseElements = call.RequestParameters, call.ResponseElements
	if werr != nil {
		ev.ErrorCode, ev.ErrorMessage = werr.Code, werr.Message
		ev.ResponseElements = nil
	}
	for _, r := range call.Resources {
		ev.Resources = append(ev.Resources, audit.Resource{ARN: r.ARN, Type: r.Type})
	}
	return s.appendAudit(ev)
}

// appendAudit appends ev, counting every event that could not be written
// (including those refused because the log had already failed).
func (s *Server) appendAudit(ev *audit.Event) error {
	err := s.audit.Append(context.WithoutCancel(context.Background()), ev)
	if err != nil {
		s.metrics.auditFailures.Inc()
	}
	return err
}

// newRequestID makes an AWS-style request id (a random UUID).
func newRequestID() string {
	id, err := ids.UUID(rand.Reader)
	if err != nil {
		// crypto/rand does not fail on supported platforms; an id is
		// still needed to answer.
		return "00000000-0000-4000-8000-000000000000"
	}
	return id
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
