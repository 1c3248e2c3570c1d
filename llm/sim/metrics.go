package sim

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// load is what a model is serving at the moment, for GET /metrics. It is
// safe for concurrent use.
type load struct {
	running atomic.Int64 // admitted requests not yet answered
	tokens  atomic.Int64 // their prompt and completion tokens
}

// enter counts c as in service, once, from its admission.
func (c *call) enter() {
	if c.inService.CompareAndSwap(false, true) {
		c.m.load.running.Add(1)
		c.m.load.tokens.Add(int64(c.charge))
	}
}

// leave counts c out of service, once, whatever ended it.
func (c *call) leave() {
	if c.inService.CompareAndSwap(true, false) {
		c.m.load.running.Add(-1)
		c.m.load.tokens.Add(-int64(c.charge))
	}
}

// serveMetrics answers GET /metrics with what a vLLM server reports there,
// in the Prometheus text format and under vLLM's names, for every chat
// model (label model_name, engine "0"):
//
//   - vllm:num_requests_waiting: requests queued behind max_concurrency;
//   - vllm:num_requests_running: requests admitted and not yet answered;
//   - vllm:kv_cache_usage_perc: the tokens (prompt and completion) of the
//     running requests over kv_cache_tokens, at most 1; only for models
//     with kv_cache_tokens.
//
// This is what Bulwark's load-aware routing scrapes, so the simulator can
// stand in for a vLLM server.
func (s *Sim) serveMetrics(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 0, 512+len(s.sorted)*256)
	family := func(name, help string, value func(m *model) (float64, bool)) {
		b = append(b, "# HELP "...)
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, help...)
		b = append(b, "\n# TYPE "...)
		b = append(b, name...)
		b = append(b, " gauge\n"...)
		for _, m := range s.sorted {
			v, ok := value(m)
			if m.embed || m.rerank || !ok {
				continue
			}
			b = append(b, name...)
			b = append(b, `{engine="0",model_name=`...)
			b = strconv.AppendQuote(b, m.name)
			b = append(b, "} "...)
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
			b = append(b, '\n')
		}
	}
	family("vllm:num_requests_running", "Number of requests in model execution batches.", func(m *model) (float64, bool) {
		return float64(m.load.running.Load()), true
	})
	family("vllm:num_requests_waiting", "Number of requests waiting to be processed.", func(m *model) (float64, bool) {
		if m.gate == nil {
			return 0, true
		}
		return float64(max(m.gate.waiting.Load(), 0)), true
	})
	family("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", func(m *model) (float64, bool) {
		if m.kvTokens <= 0 {
			return 0, false
		}
		return min(float64(max(m.load.tokens.Load(), 0))/float64(m.kvTokens), 1), true
	})
	h := w.Header()
	h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
