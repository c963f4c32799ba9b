// Package observability holds no code: it ships Bulwark's Prometheus
// alerting rules (alerts.yaml, with promtool unit tests in
// alerts_test.yaml) and a Grafana dashboard
// (grafana-dashboard.json). Its Go tests check that every metric those
// name is one Bulwark exposes, that the rules pass promtool, and that the
// dashboard is well formed.
package observability
