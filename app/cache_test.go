package app

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// cacheConfig caches the deterministic requests of "chat"; "creative"
// opts in to caching every request, "fresh" out of caching any.
const cacheConfig = fastConfig + `  - name: creative
    targets: [{provider: fast, model: fast-chat}]
    cache: {exact: true, ttl: 10m}
  - name: fresh
    targets: [{provider: fast, model: fast-chat}]
    cache: {exact: false}
cache:
  enabled: true
  max_bytes: 1048576
  default_ttl: 1h
`

const detChat = `{"model":"chat","messages":[{"role":"user","content":"hello"}],"temperature":0}`

// setFaults sets the sim's faults of fast-chat ("{}" clears them).
func (ts *testServer) setFaults(t *testing.T, faults string) {
	t.Helper()
	resp, body := ts.do(t, "PUT", "/admin/v1/providers/fast/models/fast-chat/faults", faults)
	if resp.StatusCode != 200 {
		t.Fatalf("set faults: %d %s", resp.StatusCode, body)
	}
}

func TestCacheMissThenHitWithHeaderAndMetrics(t *testing.T) {
	ts := start(t, cacheConfig)
	resp, first := ts.do(t, "POST", "/v1/chat/completions", detChat)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "miss" {
		t.Fatalf("first: %d %q %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"), first)
	}
	// The upstream now fails: only the cache can answer.
	ts.setFaults(t, `{"error_rates":{"500":1}}`)
	resp, second := ts.do(t, "POST", "/v1/chat/completions", strings.Replace(detChat, `"temperature":0`, `"temperature":0.0,"user":"someone"`, 1))
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "hit" || !bytes.Equal(first, second) {
		t.Fatalf("second: %d %q %s; want the first answer %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"), second, first)
	}
	if resp.Header.Get("X-Bulwark-Attempts") != "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("hit headers %v", resp.Header)
	}
	_, metrics := ts.do(t, "GET", "/metrics", "")
	for _, want := range []string{
		`bulwark_cache_lookups_total{alias="chat",result="hit"} 1`,
		`bulwark_cache_lookups_total{alias="chat",result="miss"} 1`,
		`bulwark_cache_stores_total{alias="chat"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Both requests are in the usage ledger.
	waitUsage(t, ts, "alias=chat", 2)
}

func TestCacheHonoursCacheControl(t *testing.T) {
	ts := start(t, cacheConfig)
	ts.do(t, "POST", "/v1/chat/completions", detChat)
	// X-Bulwark-Attempts is sent only when an upstream was called.
	called := func(resp *http.Response) bool { return resp.Header.Get("X-Bulwark-Attempts") == "1" }
	// no-cache: not answered from the cache; the fresh answer is cached.
	resp, fresh := ts.do(t, "POST", "/v1/chat/completions", detChat, "Cache-Control", "max-age=0, No-Cache")
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "miss" || !called(resp) {
		t.Fatalf("no-cache: %d %v", resp.StatusCode, resp.Header)
	}
	// no-store: neither read nor written, and no x-bulwark-cache.
	resp, _ = ts.do(t, "POST", "/v1/chat/completions", detChat, "Cache-Control", "no-store")
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "" || !called(resp) {
		t.Errorf("no-store: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", detChat)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "hit" || called(resp) || !bytes.Equal(body, fresh) {
		t.Errorf("after no-cache: %d %v %s; want the refreshed answer %s", resp.StatusCode, resp.Header, body, fresh)
	}
}

func TestCacheReplaysAStreamAsServerSentEvents(t *testing.T) {
	ts := start(t, cacheConfig)
	stream := `{"model":"chat","messages":[{"role":"user","content":"hello"}],"seed":7,"stream":true,"stream_options":{"include_usage":true}}`
	resp, body := ts.do(t, "POST", "/v1/chat/completions", stream)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "miss" {
		t.Fatalf("first: %d %q", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"))
	}
	first := sseEvents(t, bytes.NewReader(body))
	ts.setFaults(t, `{"error_rates":{"500":1}}`)
	resp, body = ts.do(t, "POST", "/v1/chat/completions", stream)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "hit" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("second: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	second := sseEvents(t, bytes.NewReader(body))
	if len(second) < 3 || second[len(second)-1] != "[DONE]" || strings.Join(second, "\n") != strings.Join(first, "\n") {
		t.Fatalf("replayed %q; want %q", second, first)
	}
	if !strings.Contains(second[len(second)-2], `"usage":{`) {
		t.Errorf("no usage chunk replayed: %q", second[len(second)-2])
	}
	// Without include_usage, the replay leaves the usage chunk out, as a
	// stream would.
	resp, body = ts.do(t, "POST", "/v1/chat/completions", strings.Replace(stream, `"include_usage":true`, `"include_usage":false`, 1))
	if resp.Header.Get("X-Bulwark-Cache") != "hit" || strings.Contains(string(body), `"usage":{`) {
		t.Errorf("replay without include_usage: %q %s", resp.Header.Get("X-Bulwark-Cache"), body)
	}
}

func TestCacheOnlyDeterministicUnlessTheAliasOptsIn(t *testing.T) {
	ts := start(t, cacheConfig)
	random := `{"model":"chat","messages":[{"role":"user","content":"hello"}],"temperature":0.8}`
	for _, body := range []string{random, strings.Replace(detChat, `"chat"`, `"fresh"`, 1)} {
		resp, _ := ts.do(t, "POST", "/v1/chat/completions", body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "" {
			t.Errorf("%s: %d, cache %q; want not cached", body, resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"))
		}
	}
	creative := strings.Replace(random, `"chat"`, `"creative"`, 1)
	resp, first := ts.do(t, "POST", "/v1/chat/completions", creative)
	if resp.Header.Get("X-Bulwark-Cache") != "miss" {
		t.Fatalf("creative first: %q", resp.Header.Get("X-Bulwark-Cache"))
	}
	ts.setFaults(t, `{"error_rates":{"500":1}}`)
	for _, body := range []string{random, strings.Replace(detChat, `"chat"`, `"fresh"`, 1)} {
		ts.do(t, "POST", "/v1/chat/completions", body) // warm nothing
		if resp, _ := ts.do(t, "POST", "/v1/chat/completions", body); resp.StatusCode == 200 {
			t.Errorf("%s was answered from the cache", body)
		}
	}
	resp, second := ts.do(t, "POST", "/v1/chat/completions", creative)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "hit" || !bytes.Equal(first, second) {
		t.Errorf("creative second: %d %q", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"))
	}
}

func TestCacheNeverStoresABrokenStreamOrAFailure(t *testing.T) {
	ts := start(t, cacheConfig)
	for i, f := range []string{`{"cut":{"rate":1,"after_tokens":2}}`, `{"error_event":{"rate":1,"after_tokens":2}}`,
		`{"malformed":{"rate":1,"after_tokens":2}}`} {
		// A question of its own for each fault, so that no earlier answer
		// is cached.
		stream := fmt.Sprintf(`{"model":"chat","messages":[{"role":"user","content":"question %d"}],"temperature":0,"stream":true}`, i)
		ts.setFaults(t, f)
		resp, body := ts.do(t, "POST", "/v1/chat/completions", stream)
		if ev := sseEvents(t, bytes.NewReader(body)); resp.Header.Get("X-Bulwark-Cache") != "miss" || len(ev) == 0 || ev[len(ev)-1] == "[DONE]" {
			t.Fatalf("%s did not break the stream: %q %q", f, resp.Header.Get("X-Bulwark-Cache"), ev)
		}
		ts.setFaults(t, `{}`)
		resp, body = ts.do(t, "POST", "/v1/chat/completions", stream)
		if got := resp.Header.Get("X-Bulwark-Cache"); got != "miss" {
			t.Errorf("after a stream broken by %s: cache %q; want a miss", f, got)
		}
		if ev := sseEvents(t, bytes.NewReader(body)); len(ev) == 0 || ev[len(ev)-1] != "[DONE]" {
			t.Errorf("the healthy stream after %s did not end properly: %q", f, ev)
		}
	}
	// A failed non-streamed request stores nothing.
	ts.setFaults(t, `{"error_rates":{"500":1}}`)
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", detChat); resp.StatusCode == 200 {
		t.Fatal("the fault did not fail the request")
	}
	ts.setFaults(t, `{}`)
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", detChat); resp.Header.Get("X-Bulwark-Cache") != "miss" {
		t.Errorf("after a failure: %q; want a miss", resp.Header.Get("X-Bulwark-Cache"))
	}
}

func TestCacheKeepsTenantsApart(t *testing.T) {
	ts := start(t, cacheConfig)
	_, a := createKey(t, ts, `{"id":"acme"}`, `{"tenant_id":"acme","name":"app"}`)
	_, b := createKey(t, ts, `{"id":"globex"}`, `{"tenant_id":"globex","name":"app"}`)
	resp, _ := ts.do(t, "POST", "/v1/chat/completions", detChat, "Authorization", "Bearer "+a)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "miss" {
		t.Fatalf("acme: %d %q", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"))
	}
	ts.setFaults(t, `{"error_rates":{"500":1}}`)
	resp, body := ts.do(t, "POST", "/v1/chat/completions", detChat, "Authorization", "Bearer "+b)
	if resp.StatusCode == 200 || resp.Header.Get("X-Bulwark-Cache") != "miss" {
		t.Fatalf("globex got %d %q %s; want its own (failed) call", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"), body)
	}
	if resp, _ := ts.do(t, "POST", "/v1/chat/completions", detChat, "Authorization", "Bearer "+a); resp.Header.Get("X-Bulwark-Cache") != "hit" {
		t.Errorf("acme again: %q", resp.Header.Get("X-Bulwark-Cache"))
	}
}

// TestCacheScaledSharesAnswersThroughRedis runs two replicas on one Redis
// (cache.backend redis, on limits.redis_url): an answer one of them cached
// is a hit on the other.
func TestCacheScaledSharesAnswersThroughRedis(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := strings.Replace(cacheConfig, "  default_ttl: 1h\n",
		"  default_ttl: 1m\n  backend: redis\n  prefix: \"bulwark-test-cache-"+hex.EncodeToString(b[:])+":\"\n", 1)
	rs := scaledReplicas(t, cfg, 2)
	resp, first := rs[0].do(t, "POST", "/v1/chat/completions", detChat)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "miss" {
		t.Fatalf("replica 1: %d %q %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"), first)
	}
	rs[1].setFaults(t, `{"error_rates":{"500":1}}`)
	resp, second := rs[1].do(t, "POST", "/v1/chat/completions", detChat)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "hit" || !bytes.Equal(first, second) {
		t.Errorf("replica 2: %d %q %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"), second)
	}
}

// TestCacheRedisDownIsAMiss: an unreachable Redis never fails a request.
func TestCacheRedisDownIsAMiss(t *testing.T) {
	ts := start(t, cacheConfig+"  backend: redis\n  redis_url: redis://127.0.0.1:1/0\n  timeout: 200ms\n")
	for range 2 {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", detChat)
		if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Cache") != "miss" {
			t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Cache"), body)
		}
	}
	_, metrics := ts.do(t, "GET", "/metrics", "")
	for _, want := range []string{`bulwark_cache_errors_total{op="get"} 2`, `bulwark_cache_errors_total{op="set"} 2`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
