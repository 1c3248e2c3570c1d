package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/resilience"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tokens"
)

// Grounding (config models[].knowledge): a chat request to an alias bound
// to knowledge bases is answered from the chunks that best match its last
// user message. Once per client request, after its route is resolved and
// before its context window is checked (the chunks count), the gateway
// searches the alias's vector stores through the Retriever and gives the
// model the chunks in a system message placed first, numbered so that the
// model can cite them as [n]; the Outcome carries them (Grounding) for
// the API layer's citations.
//
// Retrieval is a dependency with its own resilience, per alias: a deadline
// (knowledge.timeout) inside the request's, a breaker (5 failures in a row
// open it for 30 s; a probe then closes it), and a bound on searches in
// flight (knowledge.max_concurrent), beyond which a search is refused at
// once rather than queued. A search that fails, times out or is refused
// fails the request with a *RetrievalError (503 retrieval_unavailable)
// unless the alias says on_failure: answer; the request is then answered
// without context and marked degraded (Grounding.Degraded, the
// x-bulwark-degraded header, bulwark_retrieval_total{outcome="degraded"}).

// Source is a chunk a grounded request's search found.
type Source struct {
	StoreID  string
	FileID   string
	Filename string
	Text     string
	Page     int
	Section  string
	Score    float64
}

// Retriever searches knowledge bases for grounding: the stores storeIDs of
// tenantID for query, up to max chunks scoring at least minScore, best
// first, with the query's embedding (nil when it could not be embedded)
// for drift detection. app wires the knowledge-base service in.
type Retriever interface {
	Retrieve(ctx context.Context, tenantID string, storeIDs []string, query string, max int, minScore float64) ([]Source, []float32, error)
}

// SetRetriever gives the gateway its knowledge-base search; without one a
// grounded alias's retrieval fails (as the alias's on_failure says).
func (g *Gateway) SetRetriever(r Retriever) { g.retriever = r }

// Grounding is what retrieval did for a grounded request.
type Grounding struct {
	// Sources are the chunks given to the model, numbered from 1 in the
	// context, best first.
	Sources []Source
	// Degraded, when set, is why the request is answered without
	// context: its search failed and the alias answers anyway.
	Degraded string
	// Took is how long the search took; Tokens the prompt tokens the
	// context added (an estimate in cl100k_base).
	Took   time.Duration
	Tokens int
	// Query is the query's embedding, for drift detection.
	Query []float32
}

// HeaderDegraded names what a response did without (retrieval).
const HeaderDegraded = "X-Bulwark-Degraded"

// RetrievalError is a grounded request failed by its retrieval: Reason
// says why for the client (no store address or driver message).
type RetrievalError struct {
	Alias  string
	Reason string
	// RetryAfter is when retrieval may be tried again (an open breaker's
	// remaining time), zero when unknown.
	RetryAfter time.Duration
	Err        error
}

func (e *RetrievalError) Error() string {
	return fmt.Sprintf("knowledge retrieval for %q failed: %s", e.Alias, e.Reason)
}

// Unwrap returns the cause.
func (e *RetrievalError) Unwrap() error { return e.Err }

// groundGuard is an alias's retrieval breaker and bound on searches.
type groundGuard struct {
	breaker *resilience.Breaker
	slots   chan struct{}
}

// groundBreaker is the retrieval breaker's configuration.
var groundBreaker = resilience.BreakerConfig{ConsecutiveFailures: 5, OpenFor: 30 * time.Second, HalfOpenProbes: 1}

// guard returns the alias's groundGuard for k, made on first use (and
// again when its bound changes).
func (g *Gateway) guard(alias string, k config.AliasKnowledge) *groundGuard {
	key := alias + "\x00" + strconv.Itoa(k.MaxConcurrent)
	if v, ok := g.grounds.Load(key); ok {
		return v.(*groundGuard)
	}
	v, _ := g.grounds.LoadOrStore(key, &groundGuard{breaker: resilience.NewBreaker(groundBreaker), slots: make(chan struct{}, k.MaxConcurrent)})
	return v.(*groundGuard)
}

// ground searches the knowledge bound to r for req and puts the chunks
// found first in req's messages (and body); see the comment above.
func (g *Gateway) ground(ctx context.Context, alias, tenantID string, r *route.Route, req *llm.ChatRequest, out *Outcome) error {
	k := r.Knowledge
	if !k.Enabled() {
		return nil
	}
	query := lastUserMessage(req.Messages)
	if strings.TrimSpace(query) == "" {
		return nil // nothing to search for
	}
	owner := k.Tenant
	if owner == "" {
		owner = tenantID
	}
	start := time.Now()
	ctx, span := telemetry.StartRetrieval(ctx, alias, k.VectorStoreIDs)
	sources, qv, reason, retryAfter, err := g.retrieve(ctx, alias, owner, k, query)
	took := time.Since(start)
	gr := &Grounding{Took: took}
	out.Grounding = gr
	if err != nil {
		if k.OnFailure == config.RetrievalAnswer {
			gr.Degraded = reason
			g.metrics.RecordRetrieval(alias, telemetry.RetrievalDegraded, took, 0)
			telemetry.EndRetrieval(span, telemetry.RetrievalDegraded, 0, 0, 0, err)
			return nil
		}
		g.metrics.RecordRetrieval(alias, telemetry.RetrievalFailed, took, 0)
		telemetry.EndRetrieval(span, telemetry.RetrievalFailed, 0, 0, 0, err)
		return &RetrievalError{Alias: alias, Reason: reason, RetryAfter: retryAfter, Err: err}
	}
	gr.Sources, gr.Query = sources, qv
	if len(sources) == 0 {
		g.metrics.RecordRetrieval(alias, telemetry.RetrievalEmpty, took, 0)
		telemetry.EndRetrieval(span, telemetry.RetrievalEmpty, 0, 0, 0, nil)
		return nil
	}
	text := GroundingContext(sources)
	if err := prependSystem(req, text); err != nil {
		telemetry.EndRetrieval(span, telemetry.RetrievalFailed, 0, 0, 0, err)
		return err
	}
	gr.Tokens = tokens.For("").Text(text)
	g.metrics.RecordRetrieval(alias, telemetry.RetrievalOK, took, len(sources))
	telemetry.EndRetrieval(span, telemetry.RetrievalOK, len(sources), sources[0].Score, gr.Tokens, nil)
	return nil
}

// retrieve runs one guarded search: refused at once when the alias's
// searches are all in flight or its breaker is open, bounded by
// knowledge.timeout. It returns the client's reason with a failure.
func (g *Gateway) retrieve(ctx context.Context, alias, owner string, k config.AliasKnowledge, query string) ([]Source, []float32, string, time.Duration, error) {
	if g.retriever == nil {
		return nil, nil, "knowledge bases are off on this server", 0, errors.New("no retriever")
	}
	gd := g.guard(alias, k)
	select {
	case gd.slots <- struct{}{}:
		defer func() { <-gd.slots }()
	default:
		return nil, nil, fmt.Sprintf("too many searches in flight (%d)", k.MaxConcurrent), time.Second, errors.New("retrieval bulkhead full")
	}
	if !gd.breaker.Allow() {
		st := gd.breaker.State()
		return nil, nil, "the knowledge search is failing; its breaker is open", max(st.RemainingOpen, time.Second), errors.New("retrieval breaker open")
	}
	sctx, cancel := context.WithTimeout(ctx, k.Timeout.D())
	defer cancel()
	sources, qv, err := g.retriever.Retrieve(sctx, owner, k.VectorStoreIDs, query, k.MaxNumResults, k.MinScore)
	switch {
	case err == nil:
		gd.breaker.Success()
		return sources, qv, "", 0, nil
	case ctx.Err() != nil:
		// The request ended (its client left, its deadline passed): not
		// the search's failure.
		gd.breaker.Success()
		return nil, nil, "the request ended during the search", 0, ctx.Err()
	case sctx.Err() != nil:
		gd.breaker.Failure()
		return nil, nil, fmt.Sprintf("the search took longer than %s", k.Timeout.D()), 0, err
	case errors.Is(err, ErrSourceNotFound):
		// A configuration mistake, not the store failing.
		gd.breaker.Success()
		return nil, nil, err.Error(), 0, err
	}
	gd.breaker.Failure()
	return nil, nil, "the knowledge search failed", 0, err
}

// ErrSourceNotFound is a Retriever's error for a vector store the alias
// names that does not exist (for that tenant).
var ErrSourceNotFound = errors.New("vector store not found")

// lastUserMessage is the text of the last user message.
func lastUserMessage(ms []llm.Message) string {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Role == "user" {
			return ms[i].Content
		}
	}
	return ""
}

// GroundingContext is the system message that gives a model sources,
// numbered from 1 for it to cite as [n]: a grounded alias's, and the
// Responses API's file_search's.
func GroundingContext(sources []Source) string {
	var b strings.Builder
	b.WriteString("The following excerpts were retrieved from the knowledge base for this request. " +
		"Answer from them where they are relevant, and cite each excerpt you use by its number in square brackets, like [1].")
	for i, s := range sources {
		fmt.Fprintf(&b, "\n\n[%d] %s", i+1, s.Filename)
		var where []string
		if s.Page > 0 {
			where = append(where, "page "+strconv.Itoa(s.Page))
		}
		if s.Section != "" {
			where = append(where, "section "+strconv.Quote(s.Section))
		}
		if len(where) > 0 {
			b.WriteString(" (" + strings.Join(where, ", ") + ")")
		}
		b.WriteString("\n")
		b.WriteString(s.Text)
	}
	return b.String()
}

// prependSystem puts a system message with text first in req: in its
// messages and in its body, which OpenAI-compatible upstreams get as it is
// and the other vendors' translations read.
func prependSystem(req *llm.ChatRequest, text string) error {
	req.Messages = append([]llm.Message{{Role: "system", Content: text}}, req.Messages...)
	if len(req.Body) == 0 {
		return nil
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return fmt.Errorf("ground request: %w", err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(body["messages"], &msgs); err != nil {
		return fmt.Errorf("ground request: messages: %w", err)
	}
	sys, err := json.Marshal(map[string]string{"role": "system", "content": text})
	if err != nil {
		return err
	}
	msgs = append([]json.RawMessage{sys}, msgs...)
	if body["messages"], err = json.Marshal(msgs); err != nil {
		return err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req.Body = b
	return nil
}
