package chaos_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/cache"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
)

// cachedEnv is env with the response cache on: deterministic requests of
// every alias are cached in memory.
func cachedEnv(t *testing.T, yaml string) *env {
	t.Helper()
	e := newEnv(t, yaml)
	e.gw.SetCache(cache.NewMemory(8<<20, nil), gateway.CacheOptions{Enabled: true, TTL: time.Hour})
	return e
}

// detStream is a deterministic streaming request of alias.
func detStream(alias, question string) string {
	return `{"model":"` + alias + `","stream":true,"temperature":0,"messages":[{"role":"user","content":"` + question + `"}]}`
}

// TestCacheNeverTurnsABrokenStreamIntoASuccess breaks a cacheable stream
// in every way an upstream can after its first content: the client gets
// the break, and the next identical request goes upstream again (a miss)
// instead of being served the partial answer.
func TestCacheNeverTurnsABrokenStreamIntoASuccess(t *testing.T) {
	for name, f := range map[string]config.Faults{
		"cut":         {Cut: config.Fault{Rate: 1, AfterTokens: 20}},
		"stall":       {Stall: config.Fault{Rate: 1, AfterTokens: 20}},
		"malformed":   {Malformed: config.Fault{Rate: 1, AfterTokens: 20}},
		"error_event": {ErrorEvent: config.Fault{Rate: 1, AfterTokens: 20}},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := cachedEnv(t, streams)
				e.faults("a", "m-a", f)
				body := detStream("chat", "hello there")
				s := e.streamBody(body)
				if s.done() || s.header.Get(gateway.HeaderCache) != gateway.CacheMiss {
					t.Fatalf("the %s stream ended with [DONE] (cache %q)", name, s.header.Get(gateway.HeaderCache))
				}
				e.faults("a", "m-a", config.Faults{})
				calls := e.calls("a")
				s = e.streamBody(body)
				if !s.done() || s.header.Get(gateway.HeaderCache) != gateway.CacheMiss || e.calls("a") != calls+1 {
					t.Fatalf("after the break: done %v, cache %q, %d calls; want a fresh upstream answer",
						s.done(), s.header.Get(gateway.HeaderCache), e.calls("a")-calls)
				}
				// The complete answer is cached; the upstream is not called again.
				r := e.streamBody(body)
				if !r.done() || r.header.Get(gateway.HeaderCache) != gateway.CacheHit || e.calls("a") != calls+1 ||
					strings.Join(r.events, "\n") != strings.Join(s.events, "\n") {
					t.Fatalf("replay: cache %q, %d events (want %d), %d calls", r.header.Get(gateway.HeaderCache), len(r.events), len(s.events), e.calls("a")-calls)
				}
			})
		})
	}
}

// TestCacheNeverStoresAContinuedStream: a stream that broke and was
// finished by a continuation reached the client whole, but was stitched
// from two calls; it is not cached.
func TestCacheNeverStoresAContinuedStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := cachedEnv(t, continued)
		e.faults("a", "m", config.Faults{Cut: config.Fault{Rate: 1, AfterTokens: 20}})
		body := detStream("chat", "hello there")
		s := e.streamBody(body)
		if !s.done() || e.calls("b") != 1 {
			t.Fatalf("the stream was not continued: %d calls on b, last %q", e.calls("b"), s.last())
		}
		e.faults("a", "m", config.Faults{})
		if s := e.streamBody(body); s.header.Get(gateway.HeaderCache) != gateway.CacheMiss || !s.done() {
			t.Errorf("after a continued stream: cache %q; want a miss", s.header.Get(gateway.HeaderCache))
		}
	})
}

// TestCacheNeverStoresAFailedCall: a call every attempt failed is not
// cached, and the answer of a fallback is cached like any complete answer.
func TestCacheNeverStoresAFailedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := cachedEnv(t, streams)
		e.faults("a", "m-a", config.Faults{ErrorRates: map[int]float64{500: 1}})
		e.faults("b", "m-b", config.Faults{ErrorRates: map[int]float64{500: 1}})
		body := detStream("chat", "hello there")
		if s := e.streamBody(body); s.status == 200 {
			t.Fatalf("every target failing gave %d", s.status)
		}
		e.faults("b", "m-b", config.Faults{})
		s := e.streamBody(body) // a still fails: b answers
		if !s.done() || s.header.Get(gateway.HeaderCache) != gateway.CacheMiss || e.calls("b") == 0 {
			t.Fatalf("fallback: done %v, cache %q", s.done(), s.header.Get(gateway.HeaderCache))
		}
		b := e.calls("b")
		if r := e.streamBody(body); r.header.Get(gateway.HeaderCache) != gateway.CacheHit || e.calls("b") != b {
			t.Errorf("after the fallback's answer: cache %q, %d more calls", r.header.Get(gateway.HeaderCache), e.calls("b")-b)
		}
	})
}
