package telemetry

import "github.com/prometheus/client_golang/prometheus"

// guardMetrics are the guardrails' (gateway/guard.go).
type guardMetrics struct {
	findings *prometheus.CounterVec
}

func newGuardMetrics(reg prometheus.Registerer) *guardMetrics {
	g := &guardMetrics{
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_guardrail_total",
			Help: "Guardrail checks that found something, by alias, check (pii, denied_terms, injection, max_chars), stage (input, output) and the action taken (block, mask, log)."},
			[]string{"alias", "check", "stage", "action"}),
	}
	reg.MustRegister(g.findings)
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
