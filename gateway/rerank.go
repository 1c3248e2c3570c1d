package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/telemetry"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tokens"
)

// Rerank scores req.Documents against req.Query, through the same path as
// Embed: resolve, admit, reserve, the attempt loop (retries, breakers,
// fallbacks, attempt timeouts), usage. req.Model is the alias the client
// sent; each attempt calls its target's model. Only targets whose provider
// is an llm.Reranker are tried; when neither the alias nor its fallbacks
// have one, the error is an *llm.Error of KindBadRequest, code
// "unsupported_operation", wrapping llm.ErrUnsupported. The results are
// best first, at most req.TopN of them when it is set.
func (g *Gateway) Rerank(ctx context.Context, p tenant.Principal, req *llm.RerankRequest) (resp *llm.RerankResponse, out Outcome, err error) {
	out = Outcome{Alias: req.Model}
	rq := g.begin(ctx, telemetry.OperationRerank, p, req.Model)
	rq.requestID, rq.clientRetries = req.RequestID, req.ClientRetries
	defer func() {
		if rq.quota != nil {
			rq.quota.usage = usageOf(resp)
		}
		rq.end(ctx, &out, answerOf(resp), err)
	}()
	tbl := g.routes.Load()
	r, err := resolve(rq, tbl, p, req.Model)
	if err != nil {
		return nil, out, err
	}
	rq.route = r
	if err := canRerank(tbl, r); err != nil {
		return nil, out, err
	}
	admitted, err := g.admit(rq, p, req.Priority, req.ServiceTier)
	if err != nil {
		return nil, out, err
	}
	defer admitted()
	if err := g.reserve(ctx, rq, p, false, estimateRerank(r, req), &out); err != nil {
		return nil, out, err
	}
	ctx, cancel := withTotal(ctx, r)
	defer cancel()
	// The loop skips targets that cannot rerank (loop.skip).
	resp, err = run(ctx, rq, tbl, r, &out, false,
		func(ctx context.Context, cr *route.Route, t *route.Target) (*llm.RerankResponse, error) {
			rr, ok := t.Client.(llm.Reranker)
			if !ok { // not reached: skipped
				return nil, unsupported(cr, []string{t.Name()})
			}
			ctx, cancel := withAttempt(ctx, cr)
			defer cancel()
			call := *req
			call.Model = t.Model
			resp, err := rr.Rerank(ctx, &call)
			if err == nil && req.TopN > 0 && len(resp.Results) > req.TopN {
				resp.Results = resp.Results[:req.TopN]
			}
			return resp, err
		})
	return resp, out, err
}

// reranks reports whether t's provider can rerank.
func reranks(t *route.Target) bool {
	_, ok := t.Client.(llm.Reranker)
	return ok
}

// canRerank reports, as an unsupported error, a route none of whose
// targets, nor those of its fallbacks (transitively), can rerank.
func canRerank(tbl *route.Table, r *route.Route) error {
	var names []string
	seen := map[string]bool{r.Alias: true}
	for queue := []*route.Route{r}; len(queue) > 0; queue = queue[1:] {
		cur := queue[0]
		for _, t := range cur.Targets {
			if reranks(t) {
				return nil
			}
			names = append(names, t.Name())
		}
		for _, a := range cur.Fallbacks {
			if fr, ok := tbl.Lookup(a); ok && !seen[a] {
				seen[a] = true
				queue = append(queue, fr)
			}
		}
	}
	return unsupported(r, names)
}

// unsupported is the error of a rerank call to route r whose targets
// (named) cannot rerank. It names the first of them as the target.
func unsupported(r *route.Route, targets []string) *llm.Error {
	e := &llm.Error{
		Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Code: "unsupported_operation", Param: "model",
		Provider: "bulwark", Model: r.Alias, Err: llm.ErrUnsupported,
		Message: fmt.Sprintf("the model %q cannot rerank: no provider of its targets (%s) serves rerank calls",
			r.Alias, strings.Join(targets, ", ")),
	}
	if len(r.Targets) > 0 {
		e.Provider, e.Model = r.Targets[0].Provider, r.Targets[0].Model
	}
	return e
}

// estimateRerank returns the tokens a rerank request reserves: the query
// and each document, as a cross-encoder reads them (the query once per
// document), counted in the encoding of the route's first target. The
// commit corrects it with the usage the upstream reports.
func estimateRerank(r *route.Route, req *llm.RerankRequest) int {
	model := r.Alias
	if len(r.Targets) > 0 {
		model = r.Targets[0].Model
	}
	c := tokens.For(model)
	n := c.Text(req.Query) * len(req.Documents)
	for _, d := range req.Documents {
		n += c.Text(d)
	}
	return n
}
