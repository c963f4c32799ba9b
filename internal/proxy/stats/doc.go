// Package stats is the proxy's statistics store and the single place where
// stat names are spelled. Names and meanings follow Envoy's, so dashboards
// and the App Mesh walkthroughs' `curl :9901/stats | grep ssl.handshake`
// keep working; they are an API, pinned by a golden test
// (testdata/names.golden).
//
// Counters only rise; gauges go up and down. Both are lock-free to update.
// A stat is "used" once it has been written, which is what
// /stats?usedonly selects, as in Envoy.
package stats
