package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Attributes of a retrieval span. gen_ai.operation.name is "retrieval" and
// gen_ai.data_source.id the searched vector stores, as the GenAI semantic
// conventions name a retrieval from a data source; the rest are Bulwark's.
var (
	AttrDataSourceID       = attribute.Key("gen_ai.data_source.id")
	AttrRetrievalChunks    = attribute.Key("bulwark.retrieval.chunks")
	AttrRetrievalOutcome   = attribute.Key("bulwark.retrieval.outcome")
	AttrRetrievalTopScore  = attribute.Key("bulwark.retrieval.top_score")
	AttrRetrievalDegraded  = attribute.Key("bulwark.retrieval.degraded")
	AttrRetrievalAddTokens = attribute.Key("bulwark.retrieval.tokens_added")
)

// Retrieval outcomes (the outcome label and span attribute).
const (
	RetrievalOK       = "ok"       // chunks found and given to the model
	RetrievalEmpty    = "empty"    // nothing scored above min_score
	RetrievalDegraded = "degraded" // failed, answered without context
	RetrievalFailed   = "failed"   // failed, the request failed with it
)

// retrievalMetrics are the grounding searches' (gateway/ground.go).
type retrievalMetrics struct {
	searches *prometheus.CounterVec
	duration *prometheus.HistogramVec
	chunks   *prometheus.HistogramVec
}

func newRetrievalMetrics(reg prometheus.Registerer) *retrievalMetrics {
	r := &retrievalMetrics{
		searches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_retrieval_total",
			Help: "Knowledge-base searches that grounded chat requests, by alias and outcome (ok, empty, degraded: failed and answered without context, failed: the request failed with it)."},
			[]string{"alias", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bulwark_retrieval_duration_seconds",
			Help: "Duration of the knowledge-base search of a grounded chat request, by alias.", Buckets: durationBuckets},
			[]string{"alias"}),
		chunks: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bulwark_retrieval_chunks",
			Help:    "Chunks given to the model by a grounded chat request's search, by alias.",
			Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 20, 50}},
			[]string{"alias"}),
	}
	reg.MustRegister(r.searches, r.duration, r.chunks)
	return r
}

// RecordRetrieval counts the grounding search of a chat request to alias.
func (m *Metrics) RecordRetrieval(alias, outcome string, took time.Duration, chunks int) {
	if m == nil {
		return
	}
	a := m.aliases.value(alias)
	m.retrieval.searches.WithLabelValues(a, outcome).Inc()
	m.retrieval.duration.WithLabelValues(a).Observe(took.Seconds())
	if outcome == RetrievalOK || outcome == RetrievalEmpty {
		m.retrieval.chunks.WithLabelValues(a).Observe(float64(chunks))
	}
}

// StartRetrieval starts the span of a grounding search, a child of the
// span in ctx (nothing is recorded when the request is not traced).
func StartRetrieval(ctx context.Context, alias string, stores []string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() && !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(instrumentation).Start(ctx, "retrieval "+alias,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			AttrOperationName.String("retrieval"),
			AttrAlias.String(alias),
			AttrDataSourceID.StringSlice(stores),
		))
}

// EndRetrieval ends a retrieval span with its outcome.
func EndRetrieval(span trace.Span, outcome string, chunks int, topScore float64, tokens int, err error) {
	span.SetAttributes(AttrRetrievalOutcome.String(outcome), AttrRetrievalChunks.Int(chunks),
		AttrRetrievalTopScore.Float64(topScore), AttrRetrievalAddTokens.Int(tokens),
		AttrRetrievalDegraded.Bool(outcome == RetrievalDegraded))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
