package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/openai/loadmetrics"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// loadedSims are two simulators serving model m over HTTP, as two vLLM
// servers would, with their GET /metrics; kvA and kvB are their KV-cache
// capacities in tokens.
type loadedSims struct {
	a, b       *sim.Sim
	srvA, srvB *httptest.Server
}

func newLoadedSims(t *testing.T, kvA, kvB int) *loadedSims {
	t.Helper()
	model := func(kv int) map[string]config.SimModel {
		return map[string]config.SimModel{"m": {
			MaxConcurrency: 8, Queue: 8, KVCacheTokens: kv, OutputTokens: config.Range{Min: 4, Max: 4},
		}}
	}
	s := &loadedSims{a: sim.New("gpu-a", 1, model(kvA)), b: sim.New("gpu-b", 2, model(kvB))}
	s.srvA, s.srvB = httptest.NewServer(s.a.Handler()), httptest.NewServer(s.b.Handler())
	t.Cleanup(func() {
		s.srvA.Close()
		s.srvB.Close()
	})
	return s
}

// config routes alias chat to both simulators with least_loaded, scraping
// them every interval.
func (s *loadedSims) config(interval string) string {
	return fmt.Sprintf(`
log: {level: warn}
providers:
  a: {type: openai, base_url: %q, load_metrics: {interval: %s}}
  b: {type: openai, base_url: %q, load_metrics: {interval: %s}}
models:
  - name: chat
    balance: least_loaded
    targets: [{provider: a, model: m}, {provider: b, model: m}]
`, s.srvA.URL+"/v1", interval, s.srvB.URL+"/v1", interval)
}

// hang sends n requests straight to srv's model m that hang (the model's
// fault) until the returned stop is called.
func hang(t *testing.T, s *sim.Sim, srv *httptest.Server, n int) (stop func()) {
	t.Helper()
	if err := s.SetFaults("m", config.Faults{Hang: config.Fault{Rate: 1}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"a long prompt that fills the cache"}]}`))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	// Wait for the simulator to hold them all.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, ok := scrapeLoad(t, srv)["m"]; ok && r.Running == float64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulator never held %d requests: %+v", n, scrapeLoad(t, srv))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.SetFaults("m", config.Faults{}); err != nil { // what comes next is answered
		t.Fatal(err)
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

func scrapeLoad(t *testing.T, srv *httptest.Server) loadmetrics.Page {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := loadmetrics.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// firstScrape waits for the scrape every scraper makes when it starts, so
// that no background scrape is under way when the test acts (the tests
// scrape every hour otherwise).
func (ts *testServer) firstScrape(t *testing.T) {
	t.Helper()
	ts.app.mu.Lock()
	g := ts.app.world.load
	ts.app.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := true
		for _, st := range g.Statuses() {
			done = done && !st.LastSuccess.IsZero()
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first scrapes did not succeed: %+v", g.Statuses())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scrapeNow makes the app scrape its upstreams at once, so that the test
// acts on a known report instead of waiting for an interval.
func (ts *testServer) scrapeNow(t *testing.T) *loadmetrics.Group {
	t.Helper()
	ts.app.mu.Lock()
	g := ts.app.world.load
	ts.app.mu.Unlock()
	if err := g.ScrapeNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	return g
}

// With least_loaded, new requests go to the upstream whose server reports
// the shorter queue: upstream a holds three requests of other clients
// (invisible to Bulwark's own outstanding count), so every request goes to
// b. Bulwark exports what it scraped as bulwark_upstream_* gauges labelled
// by the configured targets.
func TestLeastLoadedRoutesAwayFromTheLoadedUpstream(t *testing.T) {
	sims := newLoadedSims(t, 2000, 2000)
	ts := start(t, sims.config("1h")) // one scrape at start; the test scrapes on demand
	ts.firstScrape(t)
	stop := hang(t, sims.a, sims.srvA, 3)
	defer stop()
	ts.scrapeNow(t)

	chat := `{"model":"chat","messages":[{"role":"user","content":"hello"}]}`
	for i := range 10 {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chat)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Bulwark-Target"); got != "b/m" {
			t.Errorf("request %d went to %s, want b/m (a has 3 requests running)", i, got)
		}
	}

	resp, body := ts.do(t, "GET", "/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	a := scrapeLoad(t, sims.srvA)["m"]
	for _, want := range []string{
		`bulwark_upstream_requests_running{model="m",provider="a"} 3`,
		`bulwark_upstream_requests_waiting{model="m",provider="a"} 0`,
		`bulwark_upstream_requests_running{model="m",provider="b"} 0`,
		fmt.Sprintf(`bulwark_upstream_kv_cache_usage_ratio{model="m",provider="a"} %g`, a.KVCache),
		`bulwark_upstream_kv_cache_usage_ratio{model="m",provider="b"} 0`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if a.KVCache <= 0 {
		t.Errorf("a's KV cache usage %v: the held requests fill none of it", a.KVCache)
	}
}

// A server whose KV cache is nearly full is avoided even when its queue is
// the shorter one.
func TestLeastLoadedAvoidsAFullKVCache(t *testing.T) {
	sims := newLoadedSims(t, 20, 2000) // a's cache holds one request
	ts := start(t, sims.config("1h"))
	ts.firstScrape(t)
	// Upstream a: one request, its cache full; upstream b: two.
	stopB := hang(t, sims.b, sims.srvB, 2)
	defer stopB()
	stopA := hang(t, sims.a, sims.srvA, 1)
	defer stopA()
	if r := scrapeLoad(t, sims.srvA)["m"]; r.KVCache <= 0.9 {
		t.Fatalf("a's KV cache usage %v is not over 0.9", r.KVCache)
	}
	ts.scrapeNow(t)
	chat := `{"model":"chat","messages":[{"role":"user","content":"hello"}]}`
	for i := range 6 {
		resp, body := ts.do(t, "POST", "/v1/chat/completions", chat)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Bulwark-Target"); got != "b/m" {
			t.Errorf("request %d went to %s, want b/m (a's KV cache is full)", i, got)
		}
	}
}

// A reload that drops a provider's load_metrics stops its scraper and its
// gauges, and keeps the provider's client (its connections and breaker);
// one that keeps the settings keeps the scraper running.
func TestLoadMetricsFollowReloads(t *testing.T) {
	sims := newLoadedSims(t, 2000, 2000)
	ts := start(t, sims.config("1h"))
	ts.firstScrape(t)
	g := ts.scrapeNow(t)
	if st := g.Statuses(); len(st) != 2 {
		t.Fatalf("scraping %+v, want a and b", st)
	}
	cfg := strings.Replace(sims.config("1h"), ", load_metrics: {interval: 1h}}\n  b:", "}\n  b:", 1)
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.app.mu.Lock()
	before := ts.app.world.providers["a"].client
	ts.app.mu.Unlock()
	if err := ts.app.Reload(); err != nil {
		t.Fatal(err)
	}
	ts.app.mu.Lock()
	after := ts.app.world.providers["a"].client
	ts.app.mu.Unlock()
	if before != after {
		t.Error("dropping load_metrics rebuilt provider a's client")
	}
	st := ts.scrapeNow(t).Statuses()
	if len(st) != 1 || st[0].Provider != "b" || !st[0].Fresh {
		t.Fatalf("after the reload, scraping %+v; want b alone, kept fresh", st)
	}
	_, body := ts.do(t, "GET", "/metrics", "")
	if strings.Contains(string(body), `bulwark_upstream_requests_running{model="m",provider="a"}`) {
		t.Error("a provider no longer scraped is still exported")
	}
	if !strings.Contains(string(body), `bulwark_upstream_requests_running{model="m",provider="b"} 0`) {
		t.Error("b's gauge is missing after the reload")
	}
}
