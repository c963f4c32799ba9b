package proxystatus

import (
	"context"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/policy"
)

// Source is what the API reads: the xDS server's view of its connected
// data planes (*xds.Server).
type Source interface {
	Status() []xds.NodeStatus
}

// CounterSource is what a Source also implements when data planes report
// their TLS counters to it (*xds.Server does, from its metrics service).
type CounterSource interface {
	Counters() []xds.NodeCounters
}

// Config builds a Service.
type Config struct {
	// Source is the xDS server; nil reports no connected data plane.
	Source    Source
	AccountID string
	Region    string
}

// Service serves the API.
type Service struct{ cfg Config }

// New returns the service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// API describes the service for the server.
func (s *Service) API() *api.Service {
	return &api.Service{Name: "bulwark", EventSource: "bulwark.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "BulwarkMesh",
		Operations: map[string]api.Operation{
			"ListConnectedProxies": {Handler: api.JSON(s.apiList), ReadOnly: true},
		}}
}

// Limits of one answer: a NACK's error is the data plane's own text, kept
// short; a page holds at most maxResults proxies.
const (
	maxMessage = 1024
	maxResults = 100
)

type listInput struct {
	MeshName   string `json:"MeshName" required:"true"`
	MaxResults int    `json:"MaxResults"`
	NextToken  string `json:"NextToken"`
}

// Validate checks the mesh name as App Mesh does (1 to 255 characters).
func (in *listInput) Validate() error {
	if in.MeshName == "" || len(in.MeshName) > 255 || strings.ContainsAny(in.MeshName, "/:\x00") {
		return awsproto.Validation("MeshName must be 1 to 255 characters without '/' or ':'.")
	}
	if in.MaxResults < 0 || in.MaxResults > maxResults {
		return awsproto.Validation("MaxResults must be between 1 and %d.", maxResults)
	}
	return nil
}

type typeVersion struct {
	TypeURL string `json:"TypeUrl"`
	Version string `json:"Version"`
}

type nack struct {
	TypeURL string         `json:"TypeUrl"`
	Version string         `json:"Version,omitempty"`
	Message string         `json:"Message"`
	Time    *awsproto.Time `json:"Time"`
}

// configuration is one configuration served to the proxy: a node whose
// streams act as different principals gets one each (their certificates
// differ), usually there is one.
type configuration struct {
	Streams  int           `json:"Streams"`
	Version  string        `json:"Version"`
	Acked    []typeVersion `json:"Acked"`
	LastNack *nack         `json:"LastNack,omitempty"`
}

// tlsCounters are one listener's TLS handshake counts, as the proxy's
// data planes last reported them (Envoy's listener.<address>.ssl.*).
type tlsCounters struct {
	Handshake     uint64 `json:"Handshake"`
	NoCertificate uint64 `json:"NoCertificate"`
	VerifyFailed  uint64 `json:"VerifyFailed"`
}

type proxy struct {
	ResourceArn    string          `json:"ResourceArn"`
	Kind           string          `json:"ResourceType"`
	Name           string          `json:"ResourceName"`
	Streams        int             `json:"Streams"`
	Configurations []configuration `json:"Configurations"`
	// TlsCounters maps a listener ("0.0.0.0_15000") to its counts; absent
	// when no data plane of the resource reports stats.
	TlsCounters map[string]tlsCounters `json:"TlsCounters,omitempty"`
	// CountersUpdatedAt is when the last report arrived.
	CountersUpdatedAt *awsproto.Time `json:"CountersUpdatedAt,omitempty"`
	// CounterReporters is how many data planes report now (0: the counts
	// are the last ones before they disconnected).
	CounterReporters int `json:"CounterReporters"`
	// CountersDropped counts reported counters not kept (over the
	// server's bounds).
	CountersDropped uint64 `json:"CountersDropped,omitempty"`
}

type listOutput struct {
	Proxies   []proxy `json:"Proxies"`
	NextToken string  `json:"NextToken,omitempty"`
}

func (s *Service) meshARN(mesh string) string {
	return "arn:aws:appmesh:" + s.cfg.Region + ":" + s.cfg.AccountID + ":mesh/" + mesh
}

func (s *Service) apiList(ctx context.Context, c *api.Call, in *listInput) (*listOutput, error) {
	// Versions and refusals tell how each proxy is configured: a grant of
	// its own, not implied by reading the mesh's specs. The mesh's tags
	// feed aws:ResourceTag conditions (the server looks them up).
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "bulwark:ListConnectedProxies", Resource: s.meshARN(in.MeshName), Mode: policy.Standard}); err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, awsproto.Errorf("InvalidNextTokenException", "The NextToken is not valid: start again without it.")
		}
		after = string(b)
	}
	max := in.MaxResults
	if max == 0 {
		max = maxResults
	}
	return list(s.status(), s.counters(), in.MeshName, after, max), nil
}

func (s *Service) status() []xds.NodeStatus {
	if s.cfg.Source == nil {
		return nil
	}
	return s.cfg.Source.Status()
}

func (s *Service) counters() []xds.NodeCounters {
	if cs, ok := s.cfg.Source.(CounterSource); ok {
		return cs.Counters()
	}
	return nil
}

// list groups the mesh's entries by resource ARN (sorted), starting after
// the ARN after, at most max proxies. A resource whose data planes report
// counters but hold no discovery stream is listed too (with no
// configuration): it is connected.
func list(all []xds.NodeStatus, counters []xds.NodeCounters, mesh, after string, max int) *listOutput {
	byARN := map[string]*proxy{}
	var arns []string
	entry := func(arn string) *proxy {
		ref, err := parseARN(arn)
		if err != nil {
			return nil // the xDS server builds every ARN itself: not reached
		}
		if ref.Mesh != mesh || arn <= after {
			return nil
		}
		p := byARN[arn]
		if p == nil {
			p = &proxy{ResourceArn: arn, Kind: ref.Kind, Name: ref.Name, Configurations: []configuration{}}
			byARN[arn] = p
			arns = append(arns, arn)
		}
		return p
	}
	for _, st := range all {
		if p := entry(st.ARN); p != nil {
			p.Streams += st.Streams
			p.Configurations = append(p.Configurations, configurationOf(st))
		}
	}
	for _, c := range counters {
		p := entry(c.ARN)
		if p == nil {
			continue
		}
		if p.TlsCounters == nil {
			p.TlsCounters = map[string]tlsCounters{}
		}
		// Two node ids (the ARN and its short form) name one resource:
		// their reports add up.
		for l, v := range c.Listeners {
			t := p.TlsCounters[l]
			t.Handshake += v.Handshake
			t.NoCertificate += v.NoCertificate
			t.VerifyFailed += v.VerifyFailed
			p.TlsCounters[l] = t
		}
		if p.CountersUpdatedAt == nil || c.UpdatedAt.After(p.CountersUpdatedAt.Time) {
			p.CountersUpdatedAt = awsproto.NewTime(c.UpdatedAt)
		}
		p.CounterReporters += c.Reporters
		p.CountersDropped += c.Dropped
	}
	slices.Sort(arns)
	out := &listOutput{Proxies: []proxy{}}
	for i, a := range arns {
		if i == max {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(arns[i-1]))
			break
		}
		p := byARN[a]
		slices.SortFunc(p.Configurations, func(x, y configuration) int { return strings.Compare(x.Version, y.Version) })
		out.Proxies = append(out.Proxies, *p)
	}
	return out
}

func configurationOf(st xds.NodeStatus) configuration {
	c := configuration{Streams: st.Streams, Version: st.Version, Acked: []typeVersion{}}
	for t, v := range st.Acked {
		c.Acked = append(c.Acked, typeVersion{TypeURL: t, Version: v})
	}
	slices.SortFunc(c.Acked, func(x, y typeVersion) int { return strings.Compare(x.TypeURL, y.TypeURL) })
	if n := st.LastNACK; n != nil {
		c.LastNack = &nack{TypeURL: n.TypeURL, Version: n.Version, Message: cleanMessage(n.Message), Time: awsproto.NewTime(n.Time)}
	}
	return c
}

// pemBlock matches PEM armour and what follows it up to its end line (or
// the end of the text).
var pemBlock = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)`)

// cleanMessage shortens a NACK's error and removes any PEM block from it.
// The text comes from the data plane: Envoy names what it refused, not
// key material, but a data plane that echoed a private key must not make
// this read API (whose callers need no key rights) hand it out.
func cleanMessage(m string) string {
	m = pemBlock.ReplaceAllString(m, "[PEM removed]")
	if len(m) > maxMessage {
		// Cut on a rune boundary.
		cut := maxMessage
		for cut > 0 && m[cut]&0xC0 == 0x80 {
			cut--
		}
		m = m[:cut] + "…"
	}
	return m
}

// parseARN reads the App Mesh ARN the xDS server names a node with.
func parseARN(arn string) (xds.NodeRef, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return xds.NodeRef{}, awsproto.Validation("not an ARN")
	}
	return xds.ParseNodeID(arn, parts[3], parts[4])
}
