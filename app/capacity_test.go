package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const capacityConfig = `
log: {level: warn}
server: {max_inflight: 100, max_queued: 10}
providers:
  s: {type: sim, models: {m: {ttft: {p50: 300ms}, output_tokens: {min: 4, max: 4}}}}
models:
  - name: chat
    targets: [{provider: s, model: m}]
    capacity: {initial_limit: 1, max_limit: 1, queue: 1, critical_reserve: 0}
`

type capacityState struct {
	MaxInflight int64 `json:"max_inflight"`
	Targets     []struct {
		Target   string
		Limit    float64
		Inflight int
		Queued   map[string]int
		Shed     map[string]map[string]int64
	}
}

func (ts *testServer) capacity(t *testing.T) capacityState {
	t.Helper()
	resp, body := ts.do(t, "GET", "/admin/v1/capacity", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/v1/capacity: %d %s", resp.StatusCode, body)
	}
	var s capacityState
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A target whose limit and queue are full sheds the next request at once
// with 503, Retry-After and the reason; the admin API and the metrics show
// the limit, the queue and the shed count.
func TestCapacityShedsWith503AndShowsItsState(t *testing.T) {
	ts := start(t, capacityConfig)
	chat := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	var wg sync.WaitGroup
	for range 2 { // one in flight, one queued
		wg.Go(func() {
			if resp, body := ts.do(t, "POST", "/v1/chat/completions", chat); resp.StatusCode != 200 {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second) // s/m sorts before the built-in sim targets
	for {
		s := ts.capacity(t)
		if len(s.Targets) > 0 && s.Targets[0].Target == "s/m" && s.Targets[0].Inflight == 1 && s.Targets[0].Queued["interactive"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target never had one call in flight and one queued: %+v", s)
		}

		time.Sleep(5 * time.Millisecond)
	}
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chat)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), `"code":"queue_full"`) {
		t.Errorf("third request: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	wg.Wait()

	s := ts.capacity(t)
	if s.MaxInflight != 100 || s.Targets[0].Target != "s/m" || s.Targets[0].Limit != 1 || s.Targets[0].Shed["interactive"]["queue_full"] != 1 {
		t.Errorf("capacity state = %+v", s)
	}
	_, metrics := ts.do(t, "GET", "/metrics", "")
	for _, want := range []string{`bulwark_adaptive_limit{scope="s/m"} 1`, `bulwark_shed_total{`, `bulwark_queue_depth{class="batch"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The priority class a client asks for (x-bulwark-priority, or OpenAI's
// service_tier) reaches admission control; an unknown class is a 400.
func TestPriorityFromHeaderAndServiceTierReachesAdmission(t *testing.T) {
	ts := start(t, capacityConfig)
	chat := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	resp, body := ts.do(t, "POST", "/v1/chat/completions", chat, "X-Bulwark-Priority", "urgent")
	mustOpenAIError(t, resp, body, 400, "")

	var wg sync.WaitGroup
	for range 2 { // one in flight, one queued
		wg.Go(func() { ts.do(t, "POST", "/v1/chat/completions", chat) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := ts.capacity(t)
		if len(s.Targets) > 0 && s.Targets[0].Target == "s/m" && s.Targets[0].Inflight == 1 && s.Targets[0].Queued["interactive"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target never filled: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Both batch requests find the queue full and, being least important,
	// are shed — counted under their class.
	ts.do(t, "POST", "/v1/chat/completions", chat, "X-Bulwark-Priority", "batch")
	ts.do(t, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}],"service_tier":"flex"}`)
	wg.Wait()
	var batch int64
	for _, n := range ts.capacity(t).Targets[0].Shed["batch"] {
		batch += n
	}
	if batch != 2 {
		t.Errorf("batch sheds = %d, want 2 (header and service_tier)", batch)
	}
}
