package sim

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/openai/loadmetrics"
)

// scrapeSim reads the simulator's GET /metrics the way Bulwark's load
// scraper does.
func scrapeSim(t *testing.T, s *Sim) loadmetrics.Page {
	t.Helper()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	page, err := loadmetrics.Parse(w.Body)
	if err != nil {
		t.Fatalf("the page does not parse as a vLLM page: %v", err)
	}
	return page
}

// GET /metrics reports, under vLLM's names, the requests in service, those
// queued behind max_concurrency, and the KV cache their tokens fill; all
// go back to zero when the requests end.
func TestMetricsReportLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSim(t, func(m *config.SimModel) {
			m.MaxConcurrency, m.Queue, m.KVCacheTokens = 2, 4, 1000
			m.TTFT = fixed(ms(60_000))
		})
		// The tokens one request holds: its prompt and its answer, which
		// depends on the prompt alone.
		resp, err := s.Chat(context.Background(), chatReq("how loaded are you"))
		if err != nil {
			t.Fatal(err)
		}
		each := resp.Usage.TotalTokens
		if r, ok := scrapeSim(t, s)[chatModel]; !ok || r.Running != 0 || r.Waiting != 0 || !r.HasKVCache || r.KVCache != 0 {
			t.Fatalf("idle: %+v, %v", r, ok)
		}

		var streams []llm.Stream
		for range 2 {
			st, err := s.Stream(context.Background(), chatReq("how loaded are you"))
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, st)
		}
		ctx, cancel := context.WithCancel(context.Background())
		queued := make(chan error, 1)
		go func() {
			_, err := s.Stream(ctx, chatReq("how loaded are you"))
			queued <- err
		}()
		synctest.Wait()
		page := scrapeSim(t, s)
		r := page[chatModel]
		if r.Running != 2 || r.Waiting != 1 {
			t.Errorf("loaded: running %v, waiting %v; want 2 and 1", r.Running, r.Waiting)
		}
		if want := float64(2*each) / 1000; math.Abs(r.KVCache-want) > 1e-9 {
			t.Errorf("kv cache usage %v, want %v (two requests of %d tokens over 1000)", r.KVCache, want, each)
		}
		if _, ok := page[embedModel]; ok {
			t.Error("an embedding model is reported")
		}

		cancel() // the queued request leaves
		if err := <-queued; err == nil {
			t.Fatal("the canceled queued request was served")
		}
		for _, st := range streams {
			st.Close()
		}
		synctest.Wait()
		if r := scrapeSim(t, s)[chatModel]; r.Running != 0 || r.Waiting != 0 || r.KVCache != 0 {
			t.Errorf("after the requests ended: %+v", r)
		}
	})
}

// A model without kv_cache_tokens or max_concurrency reports no KV cache
// and an empty queue, and still counts the requests in service.
func TestMetricsWithoutCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestSim(t, func(m *config.SimModel) { m.TTFT = fixed(ms(60_000)) })
		st, err := s.Stream(context.Background(), chatReq("hi"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r, ok := scrapeSim(t, s)[chatModel]
		if !ok || r.Running != 1 || r.Waiting != 0 || r.HasKVCache {
			t.Errorf("report %+v, %v", r, ok)
		}
	})
}
