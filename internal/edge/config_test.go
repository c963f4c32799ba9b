package edge_test

import (
	"strings"
	"testing"

	"github.com/bulwarkd/bulwark/internal/edge"
	"github.com/bulwarkd/bulwark/internal/fle/token"
)

const sampleConfig = `
listen: 127.0.0.1:8443
origin: https://origin.internal:9000
admin: 127.0.0.1:9902
body_limit: 2097152
origin_tls: {ca: ca.pem, cert: c.pem, key: k.pem, server_name: origin.internal}
keys:
  01: alias/pii
  "02": alias/pii-hpke
rules:
  - name: people
    methods: [POST, PUT]
    host: api.example.com
    path_prefix: /people
    content_types: [application/json]
    key: "01"
    format: rsa-oaep-256
    fields:
      - fname
      - $[*].email
      - {selector: ssn, key: "02", format: hpke}
    query: [token]
  - name: notes
    path_regex: ^/notes/[0-9]+$
    path_case_sensitive: true
    content_types: [text/*]
    key: "02"
    detectors: [card, ssn]
`

func TestParseConfig(t *testing.T) {
	t.Parallel()
	c, err := edge.ParseConfig([]byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Keys["01"] != "alias/pii" || c.BodyLimit != 2<<20 || c.OriginTLS.ServerName != "origin.internal" {
		t.Errorf("config = %+v", c)
	}
	rules, err := c.FLERules()
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	if r.Name != "people" || len(r.Fields) != 3 || r.Fields[2].KeyID != "02" || r.Fields[2].Format != token.FormatHPKE ||
		r.Fields[1].Selector != "$[*].email" || r.Query[0].Selector != "token" || r.Format != token.FormatRSA {
		t.Errorf("rule = %+v", r)
	}
	if r.PathCaseSensitive || !rules[1].PathCaseSensitive {
		t.Errorf("path_case_sensitive: default %v, set %v; want false, true", r.PathCaseSensitive, rules[1].PathCaseSensitive)
	}
	if len(rules[1].Detectors) != 2 || rules[1].PathRegex == "" {
		t.Errorf("rule 2 = %+v", rules[1])
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	base := "origin: http://o\nkeys: {\"01\": alias/pii}\nrules:\n"
	tests := []struct{ name, yaml, want string }{
		{"misspelt option", base + "  - {key: \"01\", feilds: [ssn]}", "feilds"},
		{"no rules", "origin: http://o\n", "no rules"},
		{"nothing to protect", base + "  - {key: \"01\"}", "nothing to protect"},
		{"key not listed", base + "  - {key: \"09\", fields: [ssn]}", "not listed"},
		{"field key not listed", base + "  - {key: \"01\", fields: [{selector: ssn, key: \"09\"}]}", "not listed"},
		{"bad format", base + "  - {key: \"01\", format: rot13, fields: [ssn]}", "rot13"},
		{"bad detector", base + "  - {key: \"01\", detectors: [iban]}", "iban"},
		{"bad regex", base + "  - {key: \"01\", path_regex: \"(\", fields: [ssn]}", "regex"},
		{"two paths", base + "  - {key: \"01\", path_exact: /a, path_prefix: /b, fields: [ssn]}", "at most one"},
		{"bad selector", base + "  - {key: \"01\", fields: [\"$[\"]}", "rule0"},
		{"bad origin", "origin: ftp://o\nrules: []", "origin"},
		{"bad marker", "origin: http://o\nkeys: {\"0 1\": x}\nrules:\n  - {key: \"01\", fields: [a]}", "marker id"},
		{"no key", "origin: http://o\nrules:\n  - {fields: [ssn]}", "no key"},
		{"not yaml", "rules: [", "edge config"},
		{"uninspected prefix with dot segments", base + "  - {key: \"01\", fields: [ssn]}\npass_uninspected_under: [/up/../people]", "pass_uninspected_under"},
		{"uninspected prefix relative", base + "  - {key: \"01\", fields: [ssn]}\npass_uninspected_under: [up]", "pass_uninspected_under"},
		{"uninspected prefix encoded", base + "  - {key: \"01\", fields: [ssn]}\npass_uninspected_under: [/%75p]", "pass_uninspected_under"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := edge.ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestFlagRule(t *testing.T) {
	t.Parallel()
	r, err := edge.FlagRule(strings.Split("fname,lname,email,ssn,dob,phone", ","), "01", "rsa-oaep-256", nil)
	if err != nil || len(r.Fields) != 6 || len(r.Query) != 6 || r.KeyID != "01" || r.Methods != nil || r.ContentTypes != nil {
		t.Fatalf("FlagRule = %+v, %v", r, err)
	}
	if _, err := edge.FlagRule([]string{"ssn"}, "01", "hpkx", nil); err == nil {
		t.Error("bad format accepted")
	}
}

// TestMetricNames pins the metric names, which are API.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	got := []string{edge.MetricRequests, edge.MetricFieldsProtected, edge.MetricErrors, edge.MetricAddedLatency}
	want := []string{"bulwark_edge_requests_total", "bulwark_edge_fields_protected_total", "bulwark_edge_errors_total", "bulwark_edge_added_latency_seconds"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("metric names = %v", got)
	}
}

// FuzzParseConfig: the rules parser never panics, and whatever it accepts
// compiles into rules.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(sampleConfig))
	f.Add([]byte("origin: http://o\nkeys: {\"01\": k}\nrules:\n  - {key: \"01\", fields: [ssn, {selector: \"$..x\"}]}"))
	f.Add([]byte("rules: [{fields: [[]]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := edge.ParseConfig(b)
		if err != nil {
			return
		}
		if _, err := c.FLERules(); err != nil {
			t.Fatalf("accepted config does not compile: %v", err)
		}
	})
}
