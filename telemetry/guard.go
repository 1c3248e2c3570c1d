package telemetry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// EventGuardrail is the name of the request span's event for each
// guardrail finding, and for each check that could not run and was
// skipped (action skipped). Its attributes name the check, the stage and
// the action, never the text.
const EventGuardrail = "guardrail"

// The attributes of a guardrail event (EventGuardrail), and the request
// span's bulwark.guardrail.blocked, set when a check blocked the request
// or its answer.
const (
	AttrGuardrailCheck   = attribute.Key("bulwark.guardrail.check")
	AttrGuardrailStage   = attribute.Key("bulwark.guardrail.stage")
	AttrGuardrailAction  = attribute.Key("bulwark.guardrail.action")
	AttrGuardrailBlocked = attribute.Key("bulwark.guardrail.blocked")
)

// GuardrailBlock is the action of a finding that blocked.
const GuardrailBlock = "block"

// AddGuardrail adds a guardrail finding's event to the request span in
// ctx: check, stage (input, output) and action (block, mask, log,
// skipped). A block also sets bulwark.guardrail.blocked on the span. It
// does nothing when the span is not recording.
func AddGuardrail(ctx context.Context, check, stage, action string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(EventGuardrail, trace.WithAttributes(
		AttrGuardrailCheck.String(check),
		AttrGuardrailStage.String(stage),
		AttrGuardrailAction.String(action),
	))
	if action == GuardrailBlock {
		span.SetAttributes(AttrGuardrailBlocked.Bool(true))
	}
}

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
