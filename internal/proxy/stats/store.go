package stats

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a monotonically increasing stat.
type Counter struct {
	v    atomic.Uint64
	used atomic.Bool
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Add adds n; adding zero does not mark the counter used.
func (c *Counter) Add(n uint64) {
	if n == 0 {
		return
	}
	c.v.Add(n)
	c.used.Store(true)
}

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// Gauge is a stat that goes up and down.
type Gauge struct {
	v    atomic.Int64
	used atomic.Bool
}

// Set sets the value.
func (g *Gauge) Set(v int64) { g.v.Store(v); g.used.Store(true) }

// Add adds d (which may be negative).
func (g *Gauge) Add(d int64) { g.v.Add(d); g.used.Store(true) }

// Inc adds one.
func (g *Gauge) Inc() { g.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.Add(-1) }

// Value returns the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

// Store holds every stat of one proxy. The zero value is not usable; call
// NewStore.
type Store struct {
	mu       sync.RWMutex
	counters map[string]*Counter
	gauges   map[string]*Gauge
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{counters: map[string]*Counter{}, gauges: map[string]*Gauge{}}
}

// Counter returns the counter with that name, creating it at zero.
func (s *Store) Counter(name string) *Counter {
	s.mu.RLock()
	c := s.counters[name]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c = s.counters[name]; c == nil {
		c = &Counter{}
		s.counters[name] = c
	}
	return c
}

// Gauge returns the gauge with that name, creating it at zero.
func (s *Store) Gauge(name string) *Gauge {
	s.mu.RLock()
	g := s.gauges[name]
	s.mu.RUnlock()
	if g != nil {
		return g
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g = s.gauges[name]; g == nil {
		g = &Gauge{}
		s.gauges[name] = g
	}
	return g
}

// Sample is one stat's value at a point in time.
type Sample struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
	gauge bool
	used  bool
}

// IsGauge reports whether the sample is a gauge (else a counter), which
// Envoy's metrics service reports as the metric family's type.
func (x Sample) IsGauge() bool { return x.gauge }

// Query selects samples; the zero value selects everything.
type Query struct {
	// Filter keeps only names it matches (Envoy's ?filter=); nil keeps all.
	Filter *regexp.Regexp
	// UsedOnly keeps only stats written at least once (?usedonly).
	UsedOnly bool
}

// Snapshot returns the selected stats sorted by name.
func (s *Store) Snapshot(q Query) []Sample {
	s.mu.RLock()
	out := make([]Sample, 0, len(s.counters)+len(s.gauges))
	for n, c := range s.counters {
		out = append(out, Sample{Name: n, Value: int64(c.Value()), used: c.used.Load()})
	}
	for n, g := range s.gauges {
		out = append(out, Sample{Name: n, Value: g.Value(), gauge: true, used: g.used.Load()})
	}
	s.mu.RUnlock()
	kept := out[:0]
	for _, x := range out {
		if (q.UsedOnly && !x.used) || (q.Filter != nil && !q.Filter.MatchString(x.Name)) {
			continue
		}
		kept = append(kept, x)
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name < kept[j].Name })
	return kept
}

// WriteText writes Envoy's /stats text format: "name: value" per line.
func (s *Store) WriteText(w io.Writer, q Query) error {
	var b strings.Builder
	for _, x := range s.Snapshot(q) {
		fmt.Fprintf(&b, "%s: %d\n", x.Name, x.Value)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes Envoy's /stats?format=json shape: {"stats":[{name,value}]}.
func (s *Store) WriteJSON(w io.Writer, q Query) error {
	samples := s.Snapshot(q)
	if samples == nil {
		samples = []Sample{}
	}
	return json.NewEncoder(w).Encode(struct {
		Stats []Sample `json:"stats"`
	}{samples})
}

// WritePrometheus writes the Prometheus text exposition format with
// Envoy's metric naming: envoy_ prefix, the listener address, cluster name
// and certificate name lifted into labels.
func (s *Store) WritePrometheus(w io.Writer, q Query) error {
	// Prometheus wants every sample of a metric family together, under
	// one TYPE line, so group before writing.
	type family struct {
		gauge bool
		lines []string
	}
	fams := map[string]*family{}
	var names []string
	for _, x := range s.Snapshot(q) {
		metric, labels := PrometheusName(x.Name)
		f := fams[metric]
		if f == nil {
			f = &family{gauge: x.gauge}
			fams[metric] = f
			names = append(names, metric)
		}
		f.lines = append(f.lines, fmt.Sprintf("%s%s %d\n", metric, labels, x.Value))
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		kind := "counter"
		if fams[n].gauge {
			kind = "gauge"
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", n, kind)
		for _, l := range fams[n].lines {
			b.WriteString(l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
