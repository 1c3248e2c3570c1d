package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span attribute keys: the OpenTelemetry GenAI semantic conventions, then
// Bulwark's own.
const (
	AttrOperationName  = attribute.Key("gen_ai.operation.name")
	AttrProviderName   = attribute.Key("gen_ai.provider.name")
	AttrRequestModel   = attribute.Key("gen_ai.request.model")
	AttrResponseModel  = attribute.Key("gen_ai.response.model")
	AttrInputTokens    = attribute.Key("gen_ai.usage.input_tokens")
	AttrOutputTokens   = attribute.Key("gen_ai.usage.output_tokens")
	AttrFinishReasons  = attribute.Key("gen_ai.response.finish_reasons")
	AttrInputMessages  = attribute.Key("gen_ai.input.messages")
	AttrOutputMessages = attribute.Key("gen_ai.output.messages")
	AttrErrorType      = attribute.Key("error.type")

	AttrTenant       = attribute.Key("bulwark.tenant")
	AttrAlias        = attribute.Key("bulwark.alias")
	AttrProvider     = attribute.Key("bulwark.provider")
	AttrAttempt      = attribute.Key("bulwark.attempt")
	AttrAttempts     = attribute.Key("bulwark.attempts")
	AttrFallback     = attribute.Key("bulwark.fallback")
	AttrHedge        = attribute.Key("bulwark.hedge")
	AttrBreakerState = attribute.Key("bulwark.breaker.state")
	AttrShedDecision = attribute.Key("bulwark.shed.decision")
	AttrShedClass    = attribute.Key("bulwark.shed.class")
	AttrShedReason   = attribute.Key("bulwark.shed.reason")
	AttrQueueWait    = attribute.Key("bulwark.queue.wait_ms")
	AttrOverhead     = attribute.Key("bulwark.overhead_ms")
	// AttrContinuations is the number of continuations of a stream that
	// broke after its first content (the request span's).
	AttrContinuations = attribute.Key("bulwark.continuations")

	// The attributes of a continuation's event (EventContinuation): the
	// target whose stream broke, the target that continued it, the break
	// (cut, idle, malformed, error_event) and the characters of text the
	// client had at the break.
	AttrContinuationFrom       = attribute.Key("bulwark.continuation.from")
	AttrContinuationTo         = attribute.Key("bulwark.continuation.to")
	AttrContinuationReason     = attribute.Key("bulwark.continuation.reason")
	AttrContinuationAfterChars = attribute.Key("bulwark.continuation.after_chars")
)

// EventContinuation is the name of the request span's event for each
// continuation of its stream.
const EventContinuation = "bulwark.continuation"

// Shed decisions (bulwark.shed.decision).
const (
	DecisionAdmitted = "admitted"
	DecisionShed     = "shed"
)

// RequestInfo describes a client request once the gateway knows what it
// asks for.
type RequestInfo struct {
	Operation string // OperationChat or OperationEmbeddings
	Alias     string // the model the client asked for
	Tenant    string
}

// SetRequest names the request span in ctx (the server span Middleware
// started) "{operation} {alias}" and sets its GenAI request attributes. It
// does nothing when the span is not recording.
func SetRequest(ctx context.Context, r RequestInfo) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetName(r.Operation + " " + r.Alias)
	span.SetAttributes(
		AttrOperationName.String(r.Operation),
		AttrRequestModel.String(r.Alias),
		AttrAlias.String(r.Alias),
		AttrTenant.String(r.Tenant),
	)
}

// Recording reports whether the span in ctx records: attributes that cost
// something to compute (a breaker's state) are worth computing only then.
func Recording(ctx context.Context) bool {
	return trace.SpanFromContext(ctx).IsRecording()
}

// AdmissionInfo is the admission (shed) decision made for a request.
type AdmissionInfo struct {
	Decision  string // DecisionAdmitted or DecisionShed
	Class     string // priority class
	Reason    string // why it was shed, empty when admitted
	QueueWait time.Duration
}

// SetAdmission records the admission decision on the request span in ctx.
func SetAdmission(ctx context.Context, a AdmissionInfo) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		AttrShedDecision.String(a.Decision),
		AttrShedClass.String(a.Class),
		AttrQueueWait.Float64(ms(a.QueueWait)),
	)
	if a.Reason != "" {
		span.SetAttributes(AttrShedReason.String(a.Reason))
	}
}

// RequestResult is how a client request ended.
type RequestResult struct {
	// Provider is the config name of the provider that served the request.
	Provider      string
	ResponseModel string
	InputTokens   int
	OutputTokens  int
	FinishReasons []string
	Attempts      int
	// Continuations is the number of continuations of a stream that broke
	// after its first content; recorded only when above 0.
	Continuations int
	Overhead      time.Duration
	// ErrorType is empty on success, else a short stable name (an
	// llm.Kind's String, "shed", …); Err, when set, is recorded with it.
	ErrorType string
	Err       error
}

// SetRequestResult records the outcome on the request span in ctx. It does
// not end the span: Middleware does.
func SetRequestResult(ctx context.Context, r RequestResult) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	setResult(span, r.ResponseModel, r.InputTokens, r.OutputTokens, r.FinishReasons, r.ErrorType, r.Err)
	span.SetAttributes(AttrAttempts.Int(r.Attempts), AttrOverhead.Float64(ms(r.Overhead)))
	if r.Provider != "" {
		span.SetAttributes(AttrProvider.String(r.Provider))
	}
	if r.Continuations > 0 {
		span.SetAttributes(AttrContinuations.Int(r.Continuations))
	}
}

// ContinuationEvent is one continuation of a stream that broke after its
// first content.
type ContinuationEvent struct {
	// From is the provider/model whose stream broke, To the one that
	// continued it.
	From, To string
	// Reason is the break: cut, idle, malformed or error_event.
	Reason string
	// AfterChars is the characters of text the client had at the break.
	AfterChars int
}

// AddContinuation adds a continuation's event to the request span in ctx.
func AddContinuation(ctx context.Context, c ContinuationEvent) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(EventContinuation, trace.WithAttributes(
		AttrContinuationFrom.String(c.From),
		AttrContinuationTo.String(c.To),
		AttrContinuationReason.String(c.Reason),
		AttrContinuationAfterChars.Int(c.AfterChars),
	))
}

// AttemptInfo describes one upstream attempt.
type AttemptInfo struct {
	Operation string
	Alias     string
	Tenant    string
	// Provider is the provider's config name; ProviderName the GenAI
	// provider (openai, azure.ai.openai, …), Provider when empty.
	Provider     string
	ProviderName string
	// Model is the upstream model asked for.
	Model string
	// Number is the attempt's place in the attempt loop, from 1; Fallback
	// is set when it went to another target than the previous attempt.
	Number   int
	Fallback bool
	// Hedge is set for the second attempt of a hedged request.
	Hedge        bool
	BreakerState string
}

// StartAttempt starts the client span of one upstream attempt, a child of
// the span in ctx, with the tracer provider of that span (so it records
// nothing when the request is not traced). End it with EndAttempt. Send
// the upstream request with the returned context so that Transport (or
// Inject) passes this span's traceparent on.
func StartAttempt(ctx context.Context, a AttemptInfo) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() && !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	tracer := parent.TracerProvider().Tracer(instrumentation)
	provider := a.ProviderName
	if provider == "" {
		provider = a.Provider
	}
	return tracer.Start(ctx, a.Operation+" "+a.Model,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			AttrOperationName.String(a.Operation),
			AttrProviderName.String(provider),
			AttrRequestModel.String(a.Model),
			AttrProvider.String(a.Provider),
			AttrAlias.String(a.Alias),
			AttrTenant.String(a.Tenant),
			AttrAttempt.Int(a.Number),
			AttrFallback.Bool(a.Fallback),
			AttrHedge.Bool(a.Hedge),
			AttrBreakerState.String(a.BreakerState),
		))
}

// AttemptResult is how an upstream attempt ended.
type AttemptResult struct {
	ResponseModel string
	InputTokens   int
	OutputTokens  int
	FinishReasons []string
	// ErrorType is empty on success, else the llm.Kind's String; Err, when
	// set, is recorded with it (an llm.Error never holds a credential).
	ErrorType string
	Err       error
}

// EndAttempt records the outcome of an attempt on its span and ends it.
func EndAttempt(span trace.Span, r AttemptResult) {
	if span.IsRecording() {
		setResult(span, r.ResponseModel, r.InputTokens, r.OutputTokens, r.FinishReasons, r.ErrorType, r.Err)
	}
	span.End()
}

func setResult(span trace.Span, respModel string, in, out int, finish []string, errType string, err error) {
	if respModel != "" {
		span.SetAttributes(AttrResponseModel.String(respModel))
	}
	if in > 0 || out > 0 {
		span.SetAttributes(AttrInputTokens.Int(in), AttrOutputTokens.Int(out))
	}
	if len(finish) > 0 {
		span.SetAttributes(AttrFinishReasons.StringSlice(finish))
	}
	if errType != "" {
		span.SetAttributes(AttrErrorType.String(errType))
		msg := errType
		if err != nil {
			msg = err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
}

// RecordContent records prompt and completion text on span, only when
// content capture is enabled. input and output are the messages as JSON
// (the GenAI conventions' gen_ai.input.messages and
// gen_ai.output.messages); either may be empty.
func (t *Tracing) RecordContent(span trace.Span, input, output string) {
	if t == nil || !t.content || !span.IsRecording() {
		return
	}
	if input != "" {
		span.SetAttributes(AttrInputMessages.String(input))
	}
	if output != "" {
		span.SetAttributes(AttrOutputMessages.String(output))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
