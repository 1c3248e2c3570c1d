package gateway

import (
	"context"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/limit"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/usage"
)

// UsageSink receives one usage record per client request. usage.Writer
// implements it; Add must not block.
type UsageSink interface {
	Add(usage.Record)
}

// settleTimeout bounds the commit or cancel of a reservation at the end
// of a request; it runs even when the client has gone away.
const settleTimeout = 5 * time.Second

// RateLimit is what the x-ratelimit-* headers of a response say: the
// most constraining scope's requests and tokens status. A zero Limit
// means the dimension is not limited and its headers are not sent.
type RateLimit struct {
	Requests limit.Status
	Tokens   limit.Status
	// Budget is the state of the request's budgets (the
	// x-bulwark-budget-remaining header, budget.go); nil when none applies.
	Budget *BudgetStatus
}

// quota is a client request's governance: its reservation, to settle at
// the end, and what to write to the usage ledger. It is owned by the
// request and used by one goroutine at a time.
type quota struct {
	principal tenant.Principal
	stream    bool
	res       limit.Reservation
	settled   bool
	// usage is what the answering upstream reported; set before end.
	usage llm.Usage
	// budget is the request's budget reservation and budgetStatus what it
	// left (budget.go); nil when no budget applies.
	budget       usage.BudgetReservation
	budgetStatus *BudgetStatus
	// calls are a stream's upstream calls (bill.go), each priced by its
	// own target; nil for a call that does not stream. counted: the usage
	// of one of them was counted, not reported.
	calls   []callUsage
	counted bool
	// cacheHit: the response cache answered (cache.go); no upstream was
	// called and nothing was reserved.
	cacheHit bool
}

// cost is what the request's usage costs by the billing rule: each call
// of a stream at its target's price, else the answer's usage at the price
// of the target that answered.
func (q *quota) cost(p *usage.Prices, out *Outcome) usage.Nanodollars {
	if q.calls != nil {
		return costOf(p, q.calls)
	}
	c, _ := p.Cost(out.Target.Name(), q.usage)
	return c
}

// SetLimiter sets the limiter requests reserve quota from; nil limits
// nothing. It is meant to be called once, before serving.
func (g *Gateway) SetLimiter(l limit.Limiter) { g.limiter = l }

// SetUsage sets where usage records go; nil records nothing. It is meant
// to be called once, before serving.
func (g *Gateway) SetUsage(s UsageSink) { g.usage = s }

// SetPrices swaps in the price table costs are computed with; requests
// under way keep the one they started with only if they already priced.
func (g *Gateway) SetPrices(p *usage.Prices) { g.prices.Store(p) }

// scopes returns the limit scopes of a request: its principal's key and
// tenant and its route's alias (config models[].limits, shared by every
// tenant calling it), each only if it has a limit. r is nil before the
// route is resolved.
func scopes(p tenant.Principal, r *route.Route) []limit.Scope {
	var s []limit.Scope
	if l := p.KeyLimits; !l.IsZero() && p.KeyID != "" {
		s = append(s, limit.Scope{Kind: limit.ScopeKey, ID: p.KeyID, Limits: limitsOf(l)})
	}
	if l := p.TenantLimits; !l.IsZero() && p.TenantID != "" {
		s = append(s, limit.Scope{Kind: limit.ScopeTenant, ID: p.TenantID, Limits: limitsOf(l)})
	}
	if r != nil {
		if l := aliasLimits(r.Limits); !l.IsZero() {
			s = append(s, limit.Scope{Kind: limit.ScopeAlias, ID: r.Alias, Limits: l})
		}
	}
	return s
}

func limitsOf(l tenant.Limits) limit.Limits {
	return limit.Limits{RequestsPerMinute: l.RequestsPerMinute, TokensPerMinute: l.TokensPerMinute, Concurrent: l.Concurrent}
}

func aliasLimits(l config.ModelLimits) limit.Limits {
	return limit.Limits{RequestsPerMinute: l.RequestsPerMinute, TokensPerMinute: l.TokensPerMinute, Concurrent: l.Concurrent}
}

// defaultCompletion is the completion a chat reservation assumes when the
// client sets no max_tokens; the commit corrects it.
const defaultCompletion = 256

// estimateChat returns the tokens a chat request reserves in the
// tokens-per-minute limits: its prompt, counted by package tokens
// (fitChat), and the completion the client allows (max_tokens, or
// defaultCompletion when it sets none) for each choice. The commit
// corrects it with the usage the upstream reports.
func estimateChat(req *llm.ChatRequest, prompt int) int {
	completion := req.MaxTokens
	if completion <= 0 {
		completion = defaultCompletion
	}
	return prompt + completion*max(req.N, 1)
}

// estimateEmbed returns the tokens an embeddings request reserves: its
// inputs, counted by package tokens (fitEmbed).
func estimateEmbed(_ *llm.EmbedRequest, inputs int) int { return inputs }

// reserve reserves the request's quota once, after its route is resolved
// and before any attempt. It returns the *limit.Error of a refusal. A
// failure of the limiter itself does not refuse the request: limits are
// a guard, and a Fallback limiter already keeps serving through an outage
// of its shared backend.
func (g *Gateway) reserve(ctx context.Context, rq *request, p tenant.Principal, stream bool, tokens int, out *Outcome) error {
	rq.quota = &quota{principal: p, stream: stream}
	if err := g.reserveBudgetInto(ctx, rq, p, tokens, out); err != nil {
		return err
	}
	sc := scopes(p, rq.route)
	if g.limiter == nil || len(sc) == 0 {
		return nil
	}
	res, d, err := g.limiter.Reserve(ctx, sc, tokens)
	if err != nil {
		return nil
	}
	out.RateLimit = &RateLimit{Requests: d.Requests, Tokens: d.Tokens}
	rq.quota.putBudget(out)
	if !d.Allowed {
		return d.Err()
	}
	rq.quota.res = res
	return nil
}

// settle ends a client request's governance, once: it commits the
// reservation with the tokens the upstream reported (or cancels it when no
// upstream answered) and writes the request's usage record. It is called
// from end, so once per client request, never per attempt.
func (rq *request) settle(out *Outcome, ans answer, err error) {
	q := rq.quota
	if q == nil || q.settled {
		return
	}
	q.settled = true
	u := q.usage
	answered := out.Target != nil
	if q.res != nil {
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		if answered {
			_ = q.res.Commit(ctx, max(u.PromptTokens+u.CompletionTokens, 0))
		} else {
			_ = q.res.Cancel(ctx)
		}
		cancel()
	}
	rq.settleBudget(out, err)
	sink := rq.g.usage
	if sink == nil {
		return
	}
	rec := usage.Record{
		Time:     rq.start,
		TenantID: q.principal.TenantID,
		KeyID:    q.principal.KeyID,
		Alias:    rq.alias,
		Latency:  time.Since(rq.start),
		Attempts: out.Attempts,
		Stream:   q.stream,
		Status:   usage.StatusOK,
		Tags:     q.principal.Tags, // never modified: shared with the key set
	}
	rec.RequestID = rq.requestID
	if gr := out.Grounding; gr != nil { // ground.go
		rec.Retrieval, rec.RetrievalChunks, rec.RetrievalTokens = gr.Took, int64(len(gr.Sources)), int64(gr.Tokens)
	}
	if t := out.Target; t != nil {
		rec.Target = t.Name()
	} else if n := len(out.Tried); n > 0 {
		p, m := out.triedTarget(n - 1)
		rec.Target = p + "/" + m
	}
	failure := err
	if failure == nil {
		failure = ans.broken
	}
	if failure != nil {
		rec.Status = errorType(failure)
	}
	// The billing rule (usage/doc.go): the usage of the attempt that
	// answered, priced by its target; for a stream, that of each of its
	// calls (one per continuation), each priced by its target. A request
	// no upstream answered costs nothing. A stream call that broke without
	// reporting usage is billed for the tokens Bulwark counted of it
	// (bill.go), and the record says so.
	if q.cacheHit && err == nil {
		// A hit is recorded with the tokens of the answer it replayed, at
		// no cost: no upstream was called (usage/doc.go).
		rec.CacheHit = true
		rec.PromptTokens = int64(u.PromptTokens)
		rec.CompletionTokens = int64(u.CompletionTokens)
	}
	if answered && err == nil {
		rec.PromptTokens = int64(u.PromptTokens)
		rec.CompletionTokens = int64(u.CompletionTokens)
		rec.CachedTokens = int64(u.CachedTokens)
		rec.UsageCounted = q.counted
		rec.Cost = q.cost(rq.g.prices.Load(), out)
	}
	sink.Add(rec)
}

// usageOf returns the usage a non-streaming answer reported.
func usageOf(v any) llm.Usage {
	switch v := v.(type) {
	case *llm.ChatResponse:
		if v != nil {
			return v.Usage
		}
	case *llm.EmbedResponse:
		if v != nil {
			return v.Usage
		}
	case *llm.RerankResponse:
		if v != nil {
			return v.Usage
		}
	}
	return llm.Usage{}
}
