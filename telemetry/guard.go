package telemetry

import "github.com/prometheus/client_golang/prometheus"

// guardMetrics are the guardrails' (gateway/guard.go).
type guardMetrics struct {
	findings *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

func newGuardMetrics(reg prometheus.Registerer) *guardMetrics {
	g := &guardMetrics{
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_guardrail_total",
			Help: "Guardrail checks that found something, by alias, check (pii, denied_terms, injection, max_chars), stage (input, output) and the action taken (block, mask, log)."},
			[]string{"alias", "check", "stage", "action"}),
	}
	g.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_guardrail_errors_total",
		Help: "Guardrail checks that call a service (classifier, bedrock) and could not run (error, timeout, unreadable answer), by alias, check, stage and failure mode (open: served unchecked by it; closed: refused)."},
		[]string{"alias", "check", "stage", "mode"})
	reg.MustRegister(g.findings, g.errors)
	return g
}

// RecordGuardrail counts a guardrail check of a request to alias that
// found something, and the action it took.
func (m *Metrics) RecordGuardrail(alias, check, stage, action string) {
	if m == nil {
		return
	}
	m.guard.findings.WithLabelValues(m.aliases.value(alias), check, stage, action).Inc()
}

// RecordGuardrailError counts a guardrail check of a request to alias
// that calls a service and could not run, and its rule's failure mode
// (open or closed).
func (m *Metrics) RecordGuardrailError(alias, check, stage, mode string) {
	if m == nil {
		return
	}
	m.guard.errors.WithLabelValues(m.aliases.value(alias), check, stage, mode).Inc()
}
