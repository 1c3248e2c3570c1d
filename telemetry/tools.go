package telemetry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The attributes of a tool call's span (the GenAI semantic conventions'
// execute_tool names, then Bulwark's outcome).
const (
	AttrToolName    = attribute.Key("gen_ai.tool.name")
	AttrToolCallID  = attribute.Key("gen_ai.tool.call.id")
	AttrToolType    = attribute.Key("gen_ai.tool.type")
	AttrToolOutcome = attribute.Key("bulwark.tool.outcome")
	// AttrToolReasked is set on a call made by the answer to a re-ask.
	AttrToolReasked = attribute.Key("bulwark.tool.reasked")
)

// OperationTool is the GenAI operation name of a tool call's span.
const OperationTool = "execute_tool"

// maxToolLabels bounds the distinct tool names labelling the metrics: a
// client names its tools, so beyond it they count as Other.
const maxToolLabels = 200

// toolMetrics are tool governance's (gateway/tools.go).
type toolMetrics struct {
	calls   *prometheus.CounterVec
	removed *prometheus.CounterVec
	reasks  *prometheus.CounterVec
	names   *bounded
}

func newToolMetrics(reg prometheus.Registerer) *toolMetrics {
	t := &toolMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_tool_calls_total",
			Help: "Tool calls in the models' answers, by alias, tool and outcome (ok, not_allowed, invalid, exceeded)."},
			[]string{"alias", "tool", "outcome"}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_tools_governed_total",
			Help: "Tools declared by requests that the alias, tenant or key does not allow, by alias, tool and action (removed, refused)."},
			[]string{"alias", "tool", "action"}),
		reasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_tool_reasks_total",
			Help: "Answers that broke the tool policy or the response_format schema, by alias, reason (the error code) and result (reasked, reask_ok, reask_failed, error)."},
			[]string{"alias", "reason", "result"}),
		names: &bounded{max: maxToolLabels},
	}
	reg.MustRegister(t.calls, t.removed, t.reasks)
	return t
}

// RecordToolCall counts a tool call of an answer of alias.
func (m *Metrics) RecordToolCall(alias, tool, outcome string) {
	if m == nil {
		return
	}
	m.tools.calls.WithLabelValues(m.aliases.value(alias), m.tools.names.value(tool), outcome).Inc()
}

// RecordToolGoverned counts a declared tool removed or refused.
func (m *Metrics) RecordToolGoverned(alias, tool, action string) {
	if m == nil {
		return
	}
	m.tools.removed.WithLabelValues(m.aliases.value(alias), m.tools.names.value(tool), action).Inc()
}

// RecordToolReask counts what became of an answer that broke the policy.
func (m *Metrics) RecordToolReask(alias, reason, result string) {
	if m == nil {
		return
	}
	m.tools.reasks.WithLabelValues(m.aliases.value(alias), reason, result).Inc()
}

// ToolCallInfo is one tool call of a model's answer, as the gateway
// checked it.
type ToolCallInfo struct {
	Name, ID string
	// Outcome is ok, not_allowed, invalid or exceeded; Reason says why
	// when it is not ok (never the arguments).
	Outcome, Reason string
	Reasked         bool
}

// AddToolCall records a tool call as its own span, a child of the span in
// ctx named "execute_tool {name}", with the GenAI tool attributes and its
// outcome; a call that broke the policy has an error status. It records
// nothing when the request is not traced.
func AddToolCall(ctx context.Context, c ToolCallInfo) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return
	}
	_, span := parent.TracerProvider().Tracer(instrumentation).Start(ctx, OperationTool+" "+c.Name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			AttrOperationName.String(OperationTool),
			AttrToolName.String(c.Name),
			AttrToolCallID.String(c.ID),
			AttrToolType.String("function"),
			AttrToolOutcome.String(c.Outcome),
		))
	if c.Reasked {
		span.SetAttributes(AttrToolReasked.Bool(true))
	}
	if c.Outcome != "ok" {
		span.SetAttributes(AttrErrorType.String(c.Outcome))
		span.SetStatus(codes.Error, c.Reason)
	}
	span.End()
}
