package gateway

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Cache is where the exact response cache keeps its answers (package
// cache): cache.Memory in the embedded shape, redis.Cache in the scaled
// one. Get reports a miss as ok false with a nil error; an error is a
// failure of the backend, served as a miss.
type Cache interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
}

// CacheOptions are the response cache's settings (config cache).
type CacheOptions struct {
	// Enabled caches the deterministic requests of every alias whose
	// cache.exact is unset.
	Enabled bool
	// TTL is the default time to live of an answer (an alias's cache.ttl
	// overrides it).
	TTL time.Duration
	// MaxEntryBytes bounds one cached answer; a larger one is not cached.
	MaxEntryBytes int
}

// Values of the x-bulwark-cache header (Outcome.Cache).
const (
	HeaderCache = "X-Bulwark-Cache"
	CacheHit    = "hit"
	CacheMiss   = "miss"
	// CacheSemantic is a semantic hit (semantic.go): the answer of an
	// earlier, similar question.
	CacheSemantic = "semantic"
)

// answerCache is the gateway's response cache.
type answerCache struct {
	c   Cache
	o   CacheOptions
	sem *semanticCache // nil when no semantic cache (semantic.go)
}

// SetCache sets the response cache; nil caches nothing. It is meant to be
// called once, before serving.
func (g *Gateway) SetCache(c Cache, o CacheOptions) {
	if c == nil {
		g.cache = nil
		return
	}
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = 1 << 20
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	g.cache = &answerCache{c: c, o: o}
}

// cacheCall is a cacheable request's place in the cache: its key, and
// how long its answer is kept.
type cacheCall struct {
	g     *Gateway
	alias string
	key   string
	// version is the route's part of the keys (routeVersion), made once
	// for the exact key and the semantic bucket.
	version string
	ttl     time.Duration
	max     int
	// hit is CacheHit or CacheSemantic when the cache answered.
	hit string
	// sem is the request's question in the semantic index, to add when
	// its answer is stored; nil when it has none (semantic.go).
	sem *semanticCall
}

// lookupCache looks the request up in the response cache, once per client
// request, after its route is resolved and its prompt found to fit. It
// returns nil when the request is not cacheable: no cache, no body, the
// client's Cache-Control: no-store, an alias that does not cache it (see
// config.ModelCache.Uses), a stream of several choices. Otherwise it
// returns the request's cacheCall and, on a hit, the cached answer;
// Cache-Control: no-cache skips the lookup (a miss whose answer is
// stored). A failing backend or a corrupt entry is a miss, counted in
// bulwark_cache_errors_total: the cache never fails a request.
func (g *Gateway) lookupCache(ctx context.Context, rq *request, p tenant.Principal, r *route.Route, req *llm.ChatRequest, stream bool) (*cacheCall, *cache.Entry) {
	ac := g.cache
	if ac == nil || len(req.Body) == 0 || req.NoStore {
		return nil, nil
	}
	if stream && req.N > 1 {
		return nil, nil // chunks of several choices interleave: not replayed
	}
	if e := r.Cache.Exact; e != nil && !*e {
		return nil, nil
	}
	f, err := cache.Chat(req.Body)
	if err != nil || !r.Cache.Uses(ac.o.Enabled, f.Deterministic) {
		return nil, nil
	}
	mode := cache.ModeChat
	if stream {
		mode = cache.ModeStream
	}
	ver := routeVersion(r)
	cc := &cacheCall{g: g, alias: r.Alias, key: cache.Key(mode, p.TenantID, r.Alias, ver, f), version: ver,
		ttl: r.Cache.TTL.D(), max: ac.o.MaxEntryBytes}
	if cc.ttl <= 0 {
		cc.ttl = ac.o.TTL
	}
	if req.NoCache {
		// Not looked up; the question is still embedded so that its fresh
		// answer joins the semantic index.
		g.lookupSemantic(ctx, p, r, req, cc, mode, stream)
		g.metrics.RecordCacheLookup(rq.alias, CacheMiss)
		return cc, nil
	}
	val, ok, err := ac.c.Get(ctx, cc.key)
	if err != nil {
		g.metrics.RecordCacheError("get")
	}
	var e *cache.Entry
	if ok {
		if e, err = cache.Decode(val); err != nil {
			g.metrics.RecordCacheError("decode")
		} else if stream != (len(e.Chunks) > 0) {
			e = nil
		}
	}
	result := CacheMiss
	if e != nil {
		result = CacheHit
	} else if e = g.lookupSemantic(ctx, p, r, req, cc, mode, stream); e != nil {
		result = CacheSemantic
	}
	if e != nil {
		cc.hit = result
	}
	g.metrics.RecordCacheLookup(rq.alias, result)
	return cc, e
}

// routeVersion is what a route contributes to its keys: its targets, so
// that an alias pointed at other models by a reload starts afresh.
func routeVersion(r *route.Route) string {
	var b strings.Builder
	for _, t := range r.Targets {
		b.WriteString(t.Name())
		b.WriteByte('\n')
	}
	return b.String()
}

// store stores a complete answer. It is called only for an answer that
// ended properly with every choice finished (cache.Complete); a backend's
// failure is counted, never returned.
func (cc *cacheCall) store(ctx context.Context, e *cache.Entry) {
	val, err := e.Encode()
	if err != nil {
		cc.g.metrics.RecordCacheError("encode")
		return
	}
	if len(val) > cc.max {
		return
	}
	if err := cc.g.cache.c.Set(context.WithoutCancel(ctx), cc.key, val, cc.ttl); err != nil {
		cc.g.metrics.RecordCacheError("set")
		return
	}
	cc.g.metrics.RecordCacheStore(cc.alias)
	cc.index(ctx)
}

// storeChat stores a non-streamed answer of n choices if it is complete.
func (cc *cacheCall) storeChat(ctx context.Context, resp *llm.ChatResponse, out *Outcome, n int) {
	if cc == nil || resp == nil || out.Target == nil || !cache.Complete(resp.FinishReasons, n) {
		return
	}
	cc.store(ctx, &cache.Entry{Stored: time.Now(), Target: out.Target.Name(), Body: resp.Body, Model: resp.Model,
		FinishReasons: resp.FinishReasons, Usage: cache.UsageOf(resp.Usage)})
}

// cacheHit makes the request's usage record that of a hit (exact or
// semantic, as cc says): no upstream called, the cached answer's tokens,
// cost 0 (quota.go).
func (rq *request) cacheHit(cc *cacheCall, p tenant.Principal, stream bool, out *Outcome, u llm.Usage) {
	out.Cache = cc.hit
	rq.quota = &quota{principal: p, stream: stream, usage: u, cacheHit: true}
}

// streamRecorder keeps the chunks of a cacheable stream as the relay
// passes them on, to store them if the stream ends properly and complete.
// It is used by the relay's goroutine.
type streamRecorder struct {
	cc     *cacheCall
	ctx    context.Context
	target string
	chunks []cache.Chunk
	size   int
	// spoilt: the answer is not to be stored (too large, or the stream
	// broke and was continued).
	spoilt bool
}

func (s *streamRecorder) chunk(c *llm.Chunk) {
	if s.spoilt {
		return
	}
	k := cache.ChunkOf(c)
	if s.size += k.Size(); s.size > s.cc.max {
		s.spoilt, s.chunks = true, nil
		return
	}
	s.chunks = append(s.chunks, k)
}

// end stores the stream when it ended properly (err is io.EOF) with its
// choice finished.
func (s *streamRecorder) end(err error) {
	if s.spoilt || err != io.EOF {
		return
	}
	var finish []string
	for _, c := range s.chunks {
		if c.FinishReason != "" {
			finish = append(finish, c.FinishReason)
		}
	}
	if !cache.Complete(finish, 1) {
		return
	}
	s.cc.store(s.ctx, &cache.Entry{Stored: time.Now(), Target: s.target, Chunks: s.chunks})
}

// replay is a cached stream played back: the chunks as they were
// streamed, then io.EOF.
type replay struct {
	chunks []cache.Chunk
	usage  llm.Usage
	i      int
}

func (r *replay) Recv() (*llm.Chunk, error) {
	if r.i >= len(r.chunks) {
		return nil, io.EOF
	}
	c := r.chunks[r.i]
	r.i++
	return c.LLM(), nil
}

func (r *replay) Close() error { return nil }
