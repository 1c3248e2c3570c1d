package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// AttrCooldown is the cooldown an attempt's answer (rate limited or
// overloaded, with a Retry-After) started on its target, on the attempt's
// span.
const AttrCooldown = attribute.Key("bulwark.target.cooldown_ms")

// newCooldowns is the counter of targets cooled down (gateway/attempt.go).
func newCooldowns(reg prometheus.Registerer) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_target_cooldowns_total",
		Help: "Cooldowns started or extended on a target whose upstream answered rate limited or overloaded with a Retry-After, by target and error kind; while one runs, requests go to the alias's other targets."},
		[]string{"provider", "model", "kind"})
	reg.MustRegister(v)
	return v
}

// RecordCooldown counts a cooldown started or extended on a target; kind
// is the llm.Kind's String of the answer that started it.
func (m *Metrics) RecordCooldown(provider, model, kind string) {
	if m == nil {
		return
	}
	m.cooldowns.WithLabelValues(provider, model, kind).Inc()
}

// SetAttemptCooldown records on an attempt's span (StartAttempt) the
// cooldown its answer started on its target.
func SetAttemptCooldown(span trace.Span, d time.Duration) {
	if span.IsRecording() {
		span.SetAttributes(AttrCooldown.Float64(ms(d)))
	}
}
