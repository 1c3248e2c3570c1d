package gateway

import (
	"context"
	"slices"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// SemanticIndex is where the semantic cache keeps the vectors of the
// questions whose answers are in the Cache, by bucket (cache.Bucket: one
// tenant, alias, mode, embedding model and context), each pointing at the
// key of its answer: cache.MemoryIndex in the embedded shape,
// redis.SemanticIndex in the scaled one. Vectors are unit length. An
// error is a failure of the backend, served as a miss.
type SemanticIndex interface {
	Search(ctx context.Context, bucket string, vec []float32, threshold float32) (cache.Match, bool, error)
	Add(ctx context.Context, bucket string, vec []float32, key string, ttl time.Duration) error
}

// SemanticOptions are the semantic cache's settings (config
// cache.semantic).
type SemanticOptions struct {
	// EmbeddingModel is the embedding alias questions are embedded with,
	// through the gateway (Embed), as the request's tenant.
	EmbeddingModel string
	// Threshold is the least cosine similarity of a hit for the aliases
	// that set none (models[].cache.threshold); zero means they get no
	// semantic hits.
	Threshold float64
	// Timeout bounds the embedding of a question; 0 means 250ms.
	Timeout time.Duration
}

type semanticCache struct {
	ix SemanticIndex
	o  SemanticOptions
}

// semanticCall is a request's question in the semantic index.
type semanticCall struct {
	bucket string
	vec    []float32
}

// SetSemanticCache sets the semantic cache, over the response cache set
// by SetCache (which must be called first; without it, or with a nil ix,
// there is none). It is meant to be called once, before serving.
func (g *Gateway) SetSemanticCache(ix SemanticIndex, o SemanticOptions) {
	if g.cache == nil {
		return
	}
	if ix == nil {
		g.cache.sem = nil
		return
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	g.cache.sem = &semanticCache{ix: ix, o: o}
}

// lookupSemantic looks a cacheable request that missed the exact cache up
// in the semantic index, if its alias uses it (models[].cache.semantic)
// and it has a question (cache.QuestionOf: no tools, one choice, a user's
// text last). The question is embedded, within the timeout, and the
// nearest earlier question of its bucket at least the alias's threshold
// similar answers it, if its answer is still in the Cache and of the
// request's mode. The vector stays in cc so that the request's own answer
// joins the index when stored (cacheCall.index). With req.NoCache the
// question is embedded but not looked up. A failed or slow embedding
// (bulwark_cache_errors_total{op="embed"}), a failing index or a missing
// entry is a miss: the semantic cache never fails a request.
func (g *Gateway) lookupSemantic(ctx context.Context, p tenant.Principal, r *route.Route, req *llm.ChatRequest, cc *cacheCall, mode string, stream bool) *cache.Entry {
	sc := g.cache.sem
	if sc == nil || !r.Cache.Semantic || req.N > 1 {
		return nil
	}
	threshold := r.Cache.Threshold
	if threshold <= 0 {
		threshold = sc.o.Threshold
	}
	if threshold <= 0 {
		return nil
	}
	q, err := cache.QuestionOf(req.Body)
	if err != nil {
		return nil
	}
	ectx, cancel := context.WithTimeout(ctx, sc.o.Timeout)
	resp, _, err := g.Embed(ectx, tenant.Principal{TenantID: p.TenantID},
		&llm.EmbedRequest{Model: sc.o.EmbeddingModel, Input: []string{q.Text}, Priority: req.Priority, RequestID: req.RequestID})
	cancel()
	if err != nil || len(resp.Vectors) != 1 || len(resp.Vectors[0]) == 0 {
		g.metrics.RecordCacheError("embed")
		return nil
	}
	cc.sem = &semanticCall{
		bucket: cache.Bucket(mode, p.TenantID, r.Alias, cc.version, sc.o.EmbeddingModel, q),
		vec:    cache.Normalize(slices.Clone(resp.Vectors[0])),
	}
	if req.NoCache {
		return nil
	}
	m, ok, err := sc.ix.Search(ctx, cc.sem.bucket, cc.sem.vec, float32(threshold))
	if err != nil {
		g.metrics.RecordCacheError("semantic_search")
	}
	if !ok || m.Key == cc.key {
		return nil // the same question was an exact miss: its answer is gone
	}
	val, ok, err := g.cache.c.Get(ctx, m.Key)
	if err != nil {
		g.metrics.RecordCacheError("get")
	}
	if !ok {
		return nil
	}
	e, err := cache.Decode(val)
	if err != nil {
		g.metrics.RecordCacheError("decode")
		return nil
	}
	if stream != (len(e.Chunks) > 0) {
		return nil
	}
	return e
}

// index adds the request's question to the semantic index once its
// answer is stored, for as long as the answer is kept.
func (cc *cacheCall) index(ctx context.Context) {
	sc := cc.g.cache.sem
	if cc.sem == nil || sc == nil {
		return
	}
	if err := sc.ix.Add(context.WithoutCancel(ctx), cc.sem.bucket, cc.sem.vec, cc.key, cc.ttl); err != nil {
		cc.g.metrics.RecordCacheError("semantic_add")
	}
}
