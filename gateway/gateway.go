package gateway

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Gateway serves chat and embedding calls. It is safe for concurrent use.
type Gateway struct {
	routes atomic.Pointer[route.Table]
}

// New returns a Gateway routing with t.
func New(t *route.Table) *Gateway {
	g := &Gateway{}
	g.routes.Store(t)
	return g
}

// SetRoutes swaps in a new routing table; requests already under way keep
// the one they started with.
func (g *Gateway) SetRoutes(t *route.Table) { g.routes.Store(t) }

// Routes returns the current routing table.
func (g *Gateway) Routes() *route.Table { return g.routes.Load() }

// ModelError is a client asking for a model alias it cannot use.
type ModelError struct {
	Model string
	// NotAllowed is set when the alias exists but the key may not use it.
	NotAllowed bool
}

func (e *ModelError) Error() string {
	if e.NotAllowed {
		return fmt.Sprintf("this key is not allowed to use the model %q", e.Model)
	}
	return fmt.Sprintf("the model %q does not exist", e.Model)
}

// Outcome says how a call was served: which target answered, how many
// attempts were made and how long was spent waiting for upstreams.
type Outcome struct {
	Alias    string
	Target   *route.Target
	Attempts int
	// Upstream is the time spent in provider calls (for a stream, until the
	// upstream accepted it).
	Upstream time.Duration
}

// resolve finds the route of the alias the principal asked for.
func (g *Gateway) resolve(p tenant.Principal, alias string) (*route.Route, error) {
	r, ok := g.routes.Load().Lookup(alias)
	if !ok {
		return nil, &ModelError{Model: alias}
	}
	if !p.Allows(alias) {
		return nil, &ModelError{Model: alias, NotAllowed: true}
	}
	return r, nil
}

// Chat serves a non-streaming chat completion. req.Model is the alias the
// client sent; the provider is called with the target's model.
func (g *Gateway) Chat(ctx context.Context, p tenant.Principal, req *llm.ChatRequest) (*llm.ChatResponse, Outcome, error) {
	out := Outcome{Alias: req.Model}
	r, err := g.resolve(p, req.Model)
	if err != nil {
		return nil, out, err
	}
	t := r.Pick(nil)
	call := *req
	call.Model = t.Model
	out.Target, out.Attempts = t, 1
	start := time.Now()
	resp, err := t.Client.Chat(ctx, &call)
	out.Upstream = time.Since(start)
	return resp, out, err
}

// Stream starts a streaming chat completion. It returns once the upstream
// accepted the request; the caller relays the stream and closes it.
func (g *Gateway) Stream(ctx context.Context, p tenant.Principal, req *llm.ChatRequest) (llm.Stream, Outcome, error) {
	out := Outcome{Alias: req.Model}
	r, err := g.resolve(p, req.Model)
	if err != nil {
		return nil, out, err
	}
	t := r.Pick(nil)
	call := *req
	call.Model = t.Model
	out.Target, out.Attempts = t, 1
	start := time.Now()
	s, err := t.Client.Stream(ctx, &call)
	out.Upstream = time.Since(start)
	return s, out, err
}

// Embed computes embeddings.
func (g *Gateway) Embed(ctx context.Context, p tenant.Principal, req *llm.EmbedRequest) (*llm.EmbedResponse, Outcome, error) {
	out := Outcome{Alias: req.Model}
	r, err := g.resolve(p, req.Model)
	if err != nil {
		return nil, out, err
	}
	t := r.Pick(nil)
	call := *req
	call.Model = t.Model
	out.Target, out.Attempts = t, 1
	start := time.Now()
	resp, err := t.Client.Embed(ctx, &call)
	out.Upstream = time.Since(start)
	return resp, out, err
}
