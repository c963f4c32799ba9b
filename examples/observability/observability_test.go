package observability

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ruleFile is the part of a Prometheus rule file these tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	file, group, alert, expr string
	labels, annotations      map[string]string
}

func loadRules(t *testing.T, path string) []rule {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, rule{file: path, group: g.Name, alert: r.Alert, expr: r.Expr, labels: r.Labels, annotations: r.Annotations})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no rules", path)
	}
	return out
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promOffset   = regexp.MustCompile(`\boffset\s+-?[0-9a-z]+`)
	promIdent    = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "inf": true, "nan": true, "Inf": true, "NaN": true}
)

// metricNames returns the metric names a PromQL expression selects. It is
// a deliberately small reader for the expressions we write (selectors,
// functions, aggregations with by/without, binary operators); anything it
// cannot classify comes back as a name, so an unknown construct fails the
// existence check rather than hiding a metric.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, " ")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	s = promOffset.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var out []string
	for _, m := range promIdent.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		call := strings.HasPrefix(strings.TrimLeft(s[m[3]:], " \t\n"), "(")
		if call || promKeywords[name] || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func TestMetricNamesReader(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job="bulwark"} == 0`, []string{"up"}},
		{`sum by (instance) (increase(bulwark_api_errors_total{service="kms",code="AccessDeniedException"}[5m])) > 20`, []string{"bulwark_api_errors_total"}},
		{`(envoy_x - time()) < 14 * 86400 and envoy_x > 0`, []string{"envoy_x"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"$job"}[$__rate_interval])))`, []string{"a_bucket"}},
		{`rate(a[1m]) offset 5m / on (instance) group_left (kind) b`, []string{"a", "b"}},
		{`sum without (code) (a) unless b{x="sum(c)"}`, []string{"a", "b"}},
		{`1e3 * a`, []string{"a"}},
	}
	for _, tc := range tests {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// exposedMetrics lists the metric names Bulwark's code can expose: every
// "bulwark_…" string constant in the non-test Go sources (where the
// metric names are defined, e.g. internal/server/metrics.go), and the
// proxy's Prometheus names pinned by its golden stats file.
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true} // Prometheus's own, per target
	name := regexp.MustCompile(`^bulwark_[a-z0-9_]+$`)
	fset := token.NewFileSet()
	err := filepath.WalkDir("../../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(v) {
					names[v] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile("../../internal/proxy/stats/testdata/names.golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(golden), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
		}
	}
	for _, must := range []string{"bulwark_api_requests_total", "envoy_listener_ssl_handshake"} {
		if !names[must] {
			t.Fatalf("the metric list lacks %s: the collection above is broken", must)
		}
	}
	return names
}

// exposed reports whether a selected name is an exposed metric, allowing
// the series a histogram adds.
func exposed(known map[string]bool, n string) bool {
	if known[n] {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(n, suf); ok && known[base] {
			return true
		}
	}
	return false
}

// lintRule checks what an operator needs from an alert.
func lintRule(r rule) []string {
	var errs []string
	if r.alert == "" {
		errs = append(errs, "a recording rule or unnamed alert")
	}
	switch r.labels["severity"] {
	case "critical", "warning", "info":
	default:
		errs = append(errs, fmt.Sprintf("severity %q is not critical, warning or info", r.labels["severity"]))
	}
	for _, a := range []string{"summary", "description"} {
		if strings.TrimSpace(r.annotations[a]) == "" {
			errs = append(errs, "no "+a+" annotation")
		}
	}
	if len(metricNames(r.expr)) == 0 {
		errs = append(errs, "selects no metric")
	}
	return errs
}

// TestAlertMetricsExist: every metric an alert in alerts.yaml names is one
// Bulwark exposes, so no alert silently watches a series that never exists.
func TestAlertMetricsExist(t *testing.T) {
	known := exposedMetrics(t)
	// The check can fail: a misspelt name or an absent component's is refused.
	for _, bad := range []string{"bulwark_api_requests_totl", "bulwark_no_such_component_total", "envoy_listener_ssl_handshakes", "node_cpu_seconds_total"} {
		if exposed(known, bad) {
			t.Errorf("%s counted as exposed", bad)
		}
	}
	seen := map[string]string{}
	for _, r := range loadRules(t, "alerts.yaml") {
		t.Run(r.alert, func(t *testing.T) {
			if prev, dup := seen[r.alert]; dup {
				t.Errorf("alert name also used in group %s", prev)
			}
			seen[r.alert] = r.group
			for _, e := range lintRule(r) {
				t.Error(e)
			}
			for _, m := range metricNames(r.expr) {
				if !exposed(known, m) {
					t.Errorf("metric %s is not exposed by any Bulwark component (or the expression uses syntax metricNames does not read)", m)
				}
			}
		})
	}
}

// TestPromtool runs promtool's own checks: syntax and templates of every
// rule file, and the unit tests in alerts_test.yaml (each alert fires on
// the series it is for).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs it (Debian package prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboard is the part of a Grafana dashboard the lint reads.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

var grafanaVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// TestGrafanaDashboard lints grafana-dashboard.json: the fields Grafana
// needs to import it, a layout without overlaps, the datasource as a
// variable, every variable defined, and every queried metric exposed.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("not JSON a dashboard can be read from: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.UID) > 40 || d.SchemaVersion < 36 || len(d.Panels) == 0 {
		t.Fatalf("title %q uid %q schemaVersion %d panels %d: Grafana needs a title, a uid of at most 40 characters, schemaVersion >= 36 and panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be bound to one Grafana's datasource uid")
	}
	known := exposedMetrics(t)
	ids := map[int]bool{}
	type cell struct{ x, y int }
	used := map[cell]int{}
	queries := 0
	for _, p := range d.Panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("%s: id missing or repeated", name)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Type == "" {
			t.Errorf("%s: no title or type", name)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", name, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Errorf("%s overlaps panel %d at (%d,%d)", name, other, x, y)
					x, y = g.X+g.W, g.Y+g.H
				}
				used[cell{x, y}] = p.ID
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource must be {type: prometheus, uid: ${datasource}}", name)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", name)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			queries++
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("%s: refId %q missing or repeated", name, q.RefID)
			}
			refs[q.RefID] = true
			for _, m := range grafanaVar.FindAllStringSubmatch(q.Expr, -1) {
				if !strings.HasPrefix(m[1], "__") && !vars[m[1]] {
					t.Errorf("%s: query uses $%s, which the dashboard does not define", name, m[1])
				}
			}
			ms := metricNames(q.Expr)
			if len(ms) == 0 {
				t.Errorf("%s: query selects no metric: %s", name, q.Expr)
			}
			for _, m := range ms {
				if !exposed(known, m) {
					t.Errorf("%s: metric %s is not exposed by any Bulwark component", name, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries read: the lint is not reading the panels", queries)
	}
}
