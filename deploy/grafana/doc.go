// Package grafana holds Bulwark's Grafana dashboard, bulwark.json, and the
// test that keeps it honest: every metric its PromQL queries name is one
// telemetry.Metrics (or the drift detector registered on it) exports.
//
// Import the dashboard into Grafana and pick the Prometheus data source
// that scrapes Bulwark's GET /metrics. The package has no Go API; it must
// not be imported.
package grafana
