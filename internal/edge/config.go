package edge

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bulwarkd/bulwark/internal/fle"
	"github.com/bulwarkd/bulwark/internal/fle/detect"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

// FileConfig is the YAML file of `bulwark edge --config` (docs/edge.md).
// Unknown keys are errors, so a misspelt option never silently disables
// protection.
type FileConfig struct {
	// Listen is the proxy's address; empty means 127.0.0.1:8443.
	Listen string `yaml:"listen"`
	// Origin is the URL requests are forwarded to (http or https).
	Origin string `yaml:"origin"`
	// Admin is the address of /stats and /metrics; empty disables it.
	Admin string `yaml:"admin"`
	// TLS on the listener; absent means plain HTTP (HTTP/1.1 only).
	TLS *TLSFiles `yaml:"tls"`
	// OriginTLS configures TLS (and mTLS) to an https origin; absent means
	// the system roots and no client certificate.
	OriginTLS *OriginTLSFiles `yaml:"origin_tls"`
	// BodyLimit in bytes; 0 means fle.DefaultBodyLimit (1 MiB).
	BodyLimit int64 `yaml:"body_limit"`
	// Keys maps marker ids to KMS key ids; every key a rule names must be
	// here.
	Keys map[string]string `yaml:"keys"`
	// Rules, tried in order; the first match applies.
	Rules []RuleConfig `yaml:"rules"`
	// PassUninspectedUnder is Config.PassUninspectedUnder: path prefixes
	// where requests no rule covers stream to the origin unread. Empty
	// (the default) reads and checks every such body.
	PassUninspectedUnder []string `yaml:"pass_uninspected_under"`
}

// TLSFiles names a PEM certificate chain and key.
type TLSFiles struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// OriginTLSFiles configures the client side of TLS to the origin.
type OriginTLSFiles struct {
	// CA is a PEM bundle trusted for the origin; empty means system roots.
	CA string `yaml:"ca"`
	// Cert and Key, when set, are presented to the origin (mTLS).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName overrides the name verified in the origin's certificate.
	ServerName string `yaml:"server_name"`
}

// RuleConfig is one rule as written in the file; see fle.Rule.
type RuleConfig struct {
	Name       string   `yaml:"name"`
	Methods    []string `yaml:"methods"`
	Host       string   `yaml:"host"`
	PathExact  string   `yaml:"path_exact"`
	PathPrefix string   `yaml:"path_prefix"`
	PathRegex  string   `yaml:"path_regex"`
	// PathCaseSensitive: see fle.Rule.PathCaseSensitive; false (the
	// default) matches paths case-insensitively, which is the safe choice
	// unless the origin is known to route case-sensitively.
	PathCaseSensitive bool          `yaml:"path_case_sensitive"`
	ContentTypes      []string      `yaml:"content_types"`
	Key               string        `yaml:"key"`
	Format            string        `yaml:"format"`
	Fields            []FieldConfig `yaml:"fields"`
	Query             []FieldConfig `yaml:"query"`
	Detectors         []string      `yaml:"detectors"`
}

// FieldConfig is a selector, written either as a bare string or as a
// mapping with its own key and format.
type FieldConfig struct {
	Selector string `yaml:"selector"`
	Key      string `yaml:"key"`
	Format   string `yaml:"format"`
}

// UnmarshalYAML accepts "ssn" as well as {selector: ssn, key: "02"}.
func (f *FieldConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		f.Selector = n.Value
		return nil
	}
	type plain FieldConfig
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*f = FieldConfig(p)
	return nil
}

// ParseConfig decodes and validates a configuration file.
func ParseConfig(b []byte) (*FileConfig, error) {
	var c FileConfig
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("edge config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks everything that can be checked without the network:
// the origin URL, marker ids, formats, detectors, every rule's selectors
// and that every key a rule uses is listed under keys.
func (c *FileConfig) Validate() error {
	if c.Origin != "" {
		if _, err := ParseOrigin(c.Origin); err != nil {
			return err
		}
	}
	for id, k := range c.Keys {
		if !token.ValidKeyID(id) {
			return fmt.Errorf("edge config: keys: marker id %q must be 1-%d characters from [A-Za-z0-9_-]", id, token.MaxKeyIDLen)
		}
		if k == "" {
			return fmt.Errorf("edge config: keys: marker %s has no KMS key", id)
		}
	}
	if c.BodyLimit < -1 {
		return errors.New("edge config: body_limit must be -1 (none), 0 (default) or a byte count")
	}
	if len(c.Rules) == 0 {
		return errors.New("edge config: no rules")
	}
	if _, err := cleanPrefixes(c.PassUninspectedUnder); err != nil {
		return fmt.Errorf("edge config: pass_uninspected_under: %w", err)
	}
	_, err := c.FLERules()
	return err
}

// FLERules converts and compiles the rules.
func (c *FileConfig) FLERules() ([]fle.Rule, error) {
	rules := make([]fle.Rule, 0, len(c.Rules))
	for i, rc := range c.Rules {
		r, err := rc.rule(i, c.Keys)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	if _, err := fle.New(fle.Config{Rules: rules, Keys: fle.StaticKeys{}}); err != nil {
		return nil, fmt.Errorf("edge config: %w", err)
	}
	return rules, nil
}

func (rc RuleConfig) rule(i int, keys map[string]string) (fle.Rule, error) {
	name := rc.Name
	if name == "" {
		name = fmt.Sprintf("rule%d", i)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("edge config: rule %s: %s", name, fmt.Sprintf(format, a...))
	}
	format, err := parseFormat(rc.Format)
	if err != nil {
		return fle.Rule{}, bad("%v", err)
	}
	kinds, err := detect.ParseKinds(rc.Detectors)
	if err != nil {
		return fle.Rule{}, bad("%v", err)
	}
	r := fle.Rule{Name: name, Methods: rc.Methods, Host: rc.Host, PathExact: rc.PathExact, PathPrefix: rc.PathPrefix,
		PathRegex: rc.PathRegex, PathCaseSensitive: rc.PathCaseSensitive, ContentTypes: rc.ContentTypes, KeyID: rc.Key, Format: format, Detectors: kinds}
	if len(rc.Fields)+len(rc.Query)+len(rc.Detectors) == 0 {
		return fle.Rule{}, bad("nothing to protect: give fields, query or detectors")
	}
	usesDefault := len(rc.Detectors) > 0
	conv := func(fs []FieldConfig) ([]fle.Field, error) {
		out := make([]fle.Field, 0, len(fs))
		for _, f := range fs {
			ff, err := parseFormat(f.Format)
			if err != nil {
				return nil, bad("field %q: %v", f.Selector, err)
			}
			if f.Key == "" {
				usesDefault = true
			} else if _, ok := keys[f.Key]; !ok {
				return nil, bad("field %q: key %q is not listed under keys", f.Selector, f.Key)
			}
			out = append(out, fle.Field{Selector: f.Selector, KeyID: f.Key, Format: ff})
		}
		return out, nil
	}
	if r.Fields, err = conv(rc.Fields); err != nil {
		return fle.Rule{}, err
	}
	if r.Query, err = conv(rc.Query); err != nil {
		return fle.Rule{}, err
	}
	if usesDefault {
		if rc.Key == "" {
			return fle.Rule{}, bad("no key: set key on the rule or on every field")
		}
		if _, ok := keys[rc.Key]; !ok {
			return fle.Rule{}, bad("key %q is not listed under keys", rc.Key)
		}
	}
	return r, nil
}

func parseFormat(s string) (token.Format, error) {
	switch token.Format(s) {
	case "", token.FormatRSA, token.FormatHPKE:
		return token.Format(s), nil
	}
	return "", fmt.Errorf("format %q: use %s or %s", s, token.FormatRSA, token.FormatHPKE)
}

// FlagRule is the single rule of the flags-only form (`--fields`,
// `--key`, `--format`, `--detectors`): every request, any method, path
// and content type. A body in a format the engine cannot inspect is
// refused (415) rather than forwarded, since it might carry the fields.
// The fields are protected in the query string too (names and $ paths),
// since frameworks bind query parameters like body fields.
func FlagRule(fields []string, keyID, format string, detectors []string) (fle.Rule, error) {
	rc := RuleConfig{Name: "default", Key: keyID, Format: format, Detectors: detectors}
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			rc.Fields = append(rc.Fields, FieldConfig{Selector: f})
			if !strings.ContainsAny(f[:1], "/@") {
				rc.Query = append(rc.Query, FieldConfig{Selector: f})
			}
		}
	}
	r, err := rc.rule(0, map[string]string{keyID: "flag"})
	if err != nil {
		return fle.Rule{}, err
	}
	if _, err := fle.New(fle.Config{Rules: []fle.Rule{r}, Keys: fle.StaticKeys{}}); err != nil {
		return fle.Rule{}, err
	}
	return r, nil
}

// ParseOrigin checks an origin URL: http or https, a host, no query.
func ParseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("origin %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("origin %q: want http(s)://host[:port][/path]", s)
	}
	return u, nil
}
