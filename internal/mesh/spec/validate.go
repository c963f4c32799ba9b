package spec

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ValidationError reports one invalid member, named by its wire path, so
// the control plane can answer BadRequestException with a message that
// points at the member.
type ValidationError struct {
	// Field is the member's path, e.g. "spec.listeners[0].tls.mode".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements the error interface.
func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// checker collects the first error; later checks are skipped once one
// failed, because one precise message is what the API returns.
type checker struct{ err *ValidationError }

func (c *checker) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
}

func (c *checker) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

func (c *checker) strLen(field, s string, lo, hi int) {
	if len(s) < lo || (hi > 0 && len(s) > hi) {
		if hi > 0 {
			c.fail(field, "length must be between %d and %d", lo, hi)
		} else {
			c.fail(field, "length must be at least %d", lo)
		}
	}
}

func (c *checker) port(field string, p int) {
	if p < 1 || p > 65535 {
		c.fail(field, "must be between 1 and 65535")
	}
}

func (c *checker) oneOf(field string, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.fail(field, "must be one of %s", strings.Join(allowed, ", "))
}

// exactlyOne fails unless exactly one of the named union members is set.
func (c *checker) exactlyOne(field string, set map[string]bool) {
	n := 0
	names := make([]string, 0, len(set))
	for name, ok := range set {
		names = append(names, name)
		if ok {
			n++
		}
	}
	if n != 1 {
		sortStrings(names)
		c.fail(field, "exactly one of %s must be set", strings.Join(names, ", "))
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Validate checks a virtual node spec as CreateVirtualNode does.
func (s *VirtualNodeSpec) Validate() error {
	c := &checker{}
	for i := range s.Listeners {
		c.listener(fmt.Sprintf("spec.listeners[%d]", i), &s.Listeners[i], false)
	}
	if s.BackendDefaults != nil {
		c.clientPolicy("spec.backendDefaults.clientPolicy", s.BackendDefaults.ClientPolicy)
	}
	for i, b := range s.Backends {
		f := fmt.Sprintf("spec.backends[%d]", i)
		if b.VirtualService == nil {
			c.fail(f, "virtualService is required")
			continue
		}
		c.strLen(f+".virtualService.virtualServiceName", b.VirtualService.VirtualServiceName, 1, 255)
		c.clientPolicy(f+".virtualService.clientPolicy", b.VirtualService.ClientPolicy)
	}
	if sd := s.ServiceDiscovery; sd != nil {
		c.exactlyOne("spec.serviceDiscovery", map[string]bool{"dns": sd.DNS != nil, "awsCloudMap": sd.AWSCloudMap != nil})
		if sd.DNS != nil {
			c.hostname("spec.serviceDiscovery.dns.hostname", sd.DNS.Hostname)
			if sd.DNS.ResponseType != "" {
				c.oneOf("spec.serviceDiscovery.dns.responseType", sd.DNS.ResponseType, "LOADBALANCER", "ENDPOINTS")
			}
		}
		if m := sd.AWSCloudMap; m != nil {
			c.strLen("spec.serviceDiscovery.awsCloudMap.namespaceName", m.NamespaceName, 1, 1024)
			c.strLen("spec.serviceDiscovery.awsCloudMap.serviceName", m.ServiceName, 1, 1024)
		}
	}
	c.logging("spec.logging", s.Logging)
	return c.result()
}

// Validate checks a virtual gateway spec as CreateVirtualGateway does.
func (s *VirtualGatewaySpec) Validate() error {
	c := &checker{}
	if len(s.Listeners) == 0 {
		c.fail("spec.listeners", "at least one listener is required")
	}
	for i := range s.Listeners {
		c.listener(fmt.Sprintf("spec.listeners[%d]", i), &s.Listeners[i], true)
	}
	if s.BackendDefaults != nil {
		c.clientPolicy("spec.backendDefaults.clientPolicy", s.BackendDefaults.ClientPolicy)
	}
	c.logging("spec.logging", s.Logging)
	return c.result()
}

func (c *checker) hostname(field, h string) {
	c.strLen(field, h, 1, 253)
	if host, p, err := net.SplitHostPort(h); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || host == "" {
			c.fail(field, "must be a hostname or host:port")
			return
		}
		c.port(field, n)
	}
}

func (c *checker) listener(f string, l *Listener, gateway bool) {
	protocols := []string{ProtocolHTTP, ProtocolTCP, ProtocolHTTP2, ProtocolGRPC}
	if gateway {
		protocols = protocols[:0:0]
		protocols = append(protocols, ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC)
	}
	if l.PortMapping == nil {
		c.fail(f+".portMapping", "is required")
		return
	}
	c.port(f+".portMapping.port", l.PortMapping.Port)
	c.oneOf(f+".portMapping.protocol", l.PortMapping.Protocol, protocols...)
	if t := l.TLS; t != nil {
		c.oneOf(f+".tls.mode", t.Mode, ModeStrict, ModePermissive, ModeDisabled)
		if t.Certificate == nil {
			c.fail(f+".tls.certificate", "is required")
		} else {
			c.certificate(f+".tls.certificate", t.Certificate.ACM, t.Certificate.File, t.Certificate.SDS)
		}
		if v := t.Validation; v != nil {
			c.trust(f+".tls.validation.trust", v.Trust)
			c.sans(f+".tls.validation.subjectAlternativeNames", v.SubjectAlternativeNames)
		}
	}
	if h := l.HealthCheck; h != nil {
		hf := f + ".healthCheck"
		if h.HealthyThreshold < 2 || h.HealthyThreshold > 10 {
			c.fail(hf+".healthyThreshold", "must be between 2 and 10")
		}
		if h.UnhealthyThreshold < 2 || h.UnhealthyThreshold > 10 {
			c.fail(hf+".unhealthyThreshold", "must be between 2 and 10")
		}
		if h.IntervalMillis < 5000 || h.IntervalMillis > 300000 {
			c.fail(hf+".intervalMillis", "must be between 5000 and 300000")
		}
		if h.TimeoutMillis < 2000 || h.TimeoutMillis > 60000 {
			c.fail(hf+".timeoutMillis", "must be between 2000 and 60000")
		}
		c.oneOf(hf+".protocol", h.Protocol, protocols...)
		if h.Port != 0 {
			c.port(hf+".port", h.Port)
		}
	}
	if gateway && l.OutlierDetection != nil {
		c.fail(f+".outlierDetection", "is not supported on virtual gateway listeners")
	}
	if o := l.OutlierDetection; o != nil {
		c.duration(f+".outlierDetection.baseEjectionDuration", o.BaseEjectionDuration, true)
		c.duration(f+".outlierDetection.interval", o.Interval, true)
		if o.MaxEjectionPercent < 0 || o.MaxEjectionPercent > 100 {
			c.fail(f+".outlierDetection.maxEjectionPercent", "must be between 0 and 100")
		}
		if o.MaxServerErrors < 1 {
			c.fail(f+".outlierDetection.maxServerErrors", "must be at least 1")
		}
	}
	if p := l.ConnectionPool; p != nil {
		pf := f + ".connectionPool"
		c.exactlyOne(pf, map[string]bool{"grpc": p.GRPC != nil, "http": p.HTTP != nil, "http2": p.HTTP2 != nil, "tcp": p.TCP != nil})
		if gateway && p.TCP != nil {
			c.fail(pf+".tcp", "is not supported on virtual gateway listeners")
		}
		if p.HTTP != nil && p.HTTP.MaxConnections < 1 {
			c.fail(pf+".http.maxConnections", "must be at least 1")
		}
		if p.HTTP != nil && p.HTTP.MaxPendingRequests < 0 {
			c.fail(pf+".http.maxPendingRequests", "must be at least 1")
		}
		if p.HTTP2 != nil && p.HTTP2.MaxRequests < 1 {
			c.fail(pf+".http2.maxRequests", "must be at least 1")
		}
		if p.GRPC != nil && p.GRPC.MaxRequests < 1 {
			c.fail(pf+".grpc.maxRequests", "must be at least 1")
		}
		if p.TCP != nil && p.TCP.MaxConnections < 1 {
			c.fail(pf+".tcp.maxConnections", "must be at least 1")
		}
	}
	if t := l.Timeout; t != nil {
		for name, h := range map[string]*HTTPTimeout{"http": t.HTTP, "http2": t.HTTP2, "grpc": t.GRPC} {
			if h != nil {
				c.duration(f+".timeout."+name+".idle", h.Idle, false)
				c.duration(f+".timeout."+name+".perRequest", h.PerRequest, false)
			}
		}
		if t.TCP != nil {
			c.duration(f+".timeout.tcp.idle", t.TCP.Idle, false)
		}
	}
}

func (c *checker) duration(f string, d *Duration, required bool) {
	if d == nil {
		if required {
			c.fail(f, "is required")
		}
		return
	}
	if d.Unit != "" {
		c.oneOf(f+".unit", d.Unit, "s", "ms")
	}
	if d.Value != nil && *d.Value < 0 {
		c.fail(f+".value", "must not be negative")
	}
}

func (c *checker) certificate(f string, acm *ACMCertificate, file *FileCertificate, sds *SDSCertificate) {
	c.exactlyOne(f, map[string]bool{"acm": acm != nil, "file": file != nil, "sds": sds != nil})
	if acm != nil && !strings.HasPrefix(acm.CertificateArn, "arn:") {
		c.fail(f+".acm.certificateArn", "must be an ARN")
	}
	if file != nil {
		c.strLen(f+".file.certificateChain", file.CertificateChain, 1, 255)
		c.strLen(f+".file.privateKey", file.PrivateKey, 1, 255)
	}
	if sds != nil {
		c.strLen(f+".sds.secretName", sds.SecretName, 1, 0)
	}
}

func (c *checker) trust(f string, t *TrustContext) {
	if t == nil {
		c.fail(f, "is required")
		return
	}
	c.exactlyOne(f, map[string]bool{"acm": t.ACM != nil, "file": t.File != nil, "sds": t.SDS != nil})
	if t.ACM != nil {
		n := len(t.ACM.CertificateAuthorityArns)
		if n < 1 || n > 3 {
			c.fail(f+".acm.certificateAuthorityArns", "must hold between 1 and 3 ARNs")
		}
		for i, a := range t.ACM.CertificateAuthorityArns {
			if !strings.HasPrefix(a, "arn:") {
				c.fail(fmt.Sprintf("%s.acm.certificateAuthorityArns[%d]", f, i), "must be an ARN")
			}
		}
	}
	if t.File != nil {
		c.strLen(f+".file.certificateChain", t.File.CertificateChain, 1, 255)
	}
	if t.SDS != nil {
		c.strLen(f+".sds.secretName", t.SDS.SecretName, 1, 0)
	}
}

func (c *checker) sans(f string, s *SubjectAlternativeNames) {
	if s == nil {
		return
	}
	if s.Match == nil {
		c.fail(f+".match", "is required")
		return
	}
	if len(s.Match.Exact) == 0 {
		c.fail(f+".match.exact", "must hold at least one name")
	}
	for i, n := range s.Match.Exact {
		if n == "" {
			c.fail(fmt.Sprintf("%s.match.exact[%d]", f, i), "must not be empty")
		}
	}
}

func (c *checker) clientPolicy(f string, p *ClientPolicy) {
	if p == nil || p.TLS == nil {
		return
	}
	t := p.TLS
	for i, port := range t.Ports {
		c.port(fmt.Sprintf("%s.tls.ports[%d]", f, i), port)
	}
	if t.Certificate != nil {
		c.certificate(f+".tls.certificate", t.Certificate.ACM, t.Certificate.File, t.Certificate.SDS)
	}
	if t.Validation == nil {
		c.fail(f+".tls.validation", "is required")
		return
	}
	c.trust(f+".tls.validation.trust", t.Validation.Trust)
	c.sans(f+".tls.validation.subjectAlternativeNames", t.Validation.SubjectAlternativeNames)
}

func (c *checker) logging(f string, l *Logging) {
	if l == nil || l.AccessLog == nil || l.AccessLog.File == nil {
		return
	}
	c.strLen(f+".accessLog.file.path", l.AccessLog.File.Path, 1, 255)
	if fm := l.AccessLog.File.Format; fm != nil {
		if fm.Text != "" && len(fm.JSON) > 0 {
			c.fail(f+".accessLog.file.format", "exactly one of json, text must be set")
		}
		for i, kv := range fm.JSON {
			c.strLen(fmt.Sprintf("%s.accessLog.file.format.json[%d].key", f, i), kv.Key, 1, 100)
			c.strLen(fmt.Sprintf("%s.accessLog.file.format.json[%d].value", f, i), kv.Value, 1, 100)
		}
	}
}

// Validate checks a gateway route spec as CreateGatewayRoute does.
func (s *GatewayRouteSpec) Validate() error {
	c := &checker{}
	c.exactlyOne("spec", map[string]bool{"httpRoute": s.HTTPRoute != nil, "http2Route": s.HTTP2Route != nil, "grpcRoute": s.GRPCRoute != nil})
	if s.Priority != nil && (*s.Priority < 0 || *s.Priority > 1000) {
		c.fail("spec.priority", "must be between 0 and 1000")
	}
	for name, r := range map[string]*HTTPGatewayRoute{"httpRoute": s.HTTPRoute, "http2Route": s.HTTP2Route} {
		if r == nil {
			continue
		}
		f := "spec." + name
		if r.Match == nil {
			c.fail(f+".match", "is required")
		} else {
			c.httpMatch(f+".match", r.Match, true)
		}
		if r.Action == nil {
			c.fail(f+".action", "is required")
		} else {
			c.target(f+".action.target", r.Action.Target)
			if rw := r.Action.Rewrite; rw != nil && rw.Prefix != nil && rw.Prefix.Value != "" && !strings.HasPrefix(rw.Prefix.Value, "/") {
				c.fail(f+".action.rewrite.prefix.value", "must start with /")
			}
		}
	}
	if r := s.GRPCRoute; r != nil {
		if r.Match == nil {
			c.fail("spec.grpcRoute.match", "is required")
		}
		if r.Action == nil {
			c.fail("spec.grpcRoute.action", "is required")
		} else {
			c.target("spec.grpcRoute.action.target", r.Action.Target)
		}
	}
	return c.result()
}

func (c *checker) target(f string, t *GatewayRouteTarget) {
	if t == nil || t.VirtualService == nil {
		c.fail(f+".virtualService", "is required")
		return
	}
	c.strLen(f+".virtualService.virtualServiceName", t.VirtualService.VirtualServiceName, 1, 255)
	if t.Port != nil {
		c.port(f+".port", *t.Port)
	}
}

func (c *checker) httpMatch(f string, m *HTTPRouteMatch, gateway bool) {
	if m.Prefix == nil && m.Path == nil && (m.Hostname == nil || !gateway) {
		if gateway {
			c.fail(f, "one of prefix, path, hostname must be set")
		} else {
			c.fail(f, "one of prefix, path must be set")
		}
	}
	if m.Prefix != nil && !strings.HasPrefix(*m.Prefix, "/") {
		c.fail(f+".prefix", "must start with /")
	}
	if m.Path != nil {
		if (m.Path.Exact == "") == (m.Path.Regex == "") {
			c.fail(f+".path", "exactly one of exact, regex must be set")
		}
		if m.Path.Exact != "" && !strings.HasPrefix(m.Path.Exact, "/") {
			c.fail(f+".path.exact", "must start with /")
		}
	}
	if m.Method != "" {
		c.oneOf(f+".method", m.Method, "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
	}
	if len(m.Headers) > 10 {
		c.fail(f+".headers", "must hold at most 10 rules")
	}
	for i, h := range m.Headers {
		hf := fmt.Sprintf("%s.headers[%d]", f, i)
		c.strLen(hf+".name", h.Name, 1, 50)
		if h.Match != nil {
			hm := h.Match
			c.exactlyOne(hf+".match", map[string]bool{"exact": hm.Exact != "", "prefix": hm.Prefix != "", "suffix": hm.Suffix != "", "regex": hm.Regex != "", "range": hm.Range != nil})
		}
	}
	if m.Port != nil {
		c.port(f+".port", *m.Port)
	}
}

// Validate checks a route spec as CreateRoute does.
func (s *RouteSpec) Validate() error {
	c := &checker{}
	c.exactlyOne("spec", map[string]bool{"httpRoute": s.HTTPRoute != nil, "http2Route": s.HTTP2Route != nil, "grpcRoute": s.GRPCRoute != nil, "tcpRoute": s.TCPRoute != nil})
	if s.Priority != nil && (*s.Priority < 0 || *s.Priority > 1000) {
		c.fail("spec.priority", "must be between 0 and 1000")
	}
	for name, r := range map[string]*HTTPRoute{"httpRoute": s.HTTPRoute, "http2Route": s.HTTP2Route} {
		if r == nil {
			continue
		}
		if r.Match == nil {
			c.fail("spec."+name+".match", "is required")
		} else {
			c.httpMatch("spec."+name+".match", r.Match, false)
		}
		c.action("spec."+name+".action", r.Action)
	}
	if s.GRPCRoute != nil {
		c.action("spec.grpcRoute.action", s.GRPCRoute.Action)
	}
	if s.TCPRoute != nil {
		c.action("spec.tcpRoute.action", s.TCPRoute.Action)
	}
	return c.result()
}

func (c *checker) action(f string, a *RouteAction) {
	if a == nil {
		c.fail(f, "is required")
		return
	}
	if n := len(a.WeightedTargets); n < 1 || n > 10 {
		c.fail(f+".weightedTargets", "must hold between 1 and 10 targets")
	}
	for i, t := range a.WeightedTargets {
		tf := fmt.Sprintf("%s.weightedTargets[%d]", f, i)
		c.strLen(tf+".virtualNode", t.VirtualNode, 1, 255)
		if t.Weight < 0 || t.Weight > 100 {
			c.fail(tf+".weight", "must be between 0 and 100")
		}
		if t.Port != nil {
			c.port(tf+".port", *t.Port)
		}
	}
}

// Validate checks a virtual service spec as CreateVirtualService does.
func (s *VirtualServiceSpec) Validate() error {
	c := &checker{}
	if p := s.Provider; p != nil {
		c.exactlyOne("spec.provider", map[string]bool{"virtualNode": p.VirtualNode != nil, "virtualRouter": p.VirtualRouter != nil})
		if p.VirtualNode != nil {
			c.strLen("spec.provider.virtualNode.virtualNodeName", p.VirtualNode.VirtualNodeName, 1, 255)
		}
		if p.VirtualRouter != nil {
			c.strLen("spec.provider.virtualRouter.virtualRouterName", p.VirtualRouter.VirtualRouterName, 1, 255)
		}
	}
	return c.result()
}

// Validate checks a virtual router spec as CreateVirtualRouter does.
func (s *VirtualRouterSpec) Validate() error {
	c := &checker{}
	for i, l := range s.Listeners {
		f := fmt.Sprintf("spec.listeners[%d].portMapping", i)
		if l.PortMapping == nil {
			c.fail(f, "is required")
			continue
		}
		c.port(f+".port", l.PortMapping.Port)
		c.oneOf(f+".protocol", l.PortMapping.Protocol, ProtocolHTTP, ProtocolTCP, ProtocolHTTP2, ProtocolGRPC)
	}
	return c.result()
}
