package chaos_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

const rerankOutage = `
providers:
  a: {type: sim, models: {rr-a: {kind: rerank, ttft: {p50: 50ms}}}}
  b: {type: sim, models: {rr-b: {kind: rerank, ttft: {p50: 50ms}}}}
models:
  - name: rerank
    targets: [{provider: a, model: rr-a}]
    fallbacks: [rerank-backup]
    breaker: {consecutive_failures: 3, open_for: 10s}
    timeouts: {attempt: 1s}
  - name: rerank-backup
    targets: [{provider: b, model: rr-b}]
`

// rerankEnv is a gateway over the simulators of rerankOutage, used
// directly (the harness's counting wrapper does not rerank).
func rerankEnv(t *testing.T) (*gateway.Gateway, *route.Table, map[string]*sim.Sim) {
	t.Helper()
	cfg, err := config.Parse([]byte("disable_builtin_sim: true\n"+rerankOutage), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sims, clients := map[string]*sim.Sim{}, map[string]llm.Provider{}
	for name, pc := range cfg.Providers {
		sims[name] = sim.New(name, pc.Seed, pc.SimModels)
		clients[name] = sims[name]
	}
	tbl, err := route.New(cfg.Models, clients, nil)
	if err != nil {
		t.Fatal(err)
	}
	return gateway.New(tbl, gateway.Options{}), tbl, sims
}

func rerankReq() *llm.RerankRequest {
	return &llm.RerankRequest{Model: "rerank", Query: "circuit breaker", Documents: []string{
		"bread recipes", "a circuit breaker stops calls to a failing provider", "the breaker tripped",
	}}
}

func TestRerankFailsOverAndOpensTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, tbl, sims := rerankEnv(t)
		if err := sims["a"].SetFaults("rr-a", status(503)); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			resp, out, err := g.Rerank(context.Background(), tenant.Principal{}, rerankReq())
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if out.Target.Name() != "b/rr-b" || resp.Model != "rr-b" || resp.Results[0].Index != 1 {
				t.Fatalf("request %d answered by %s: %+v", i, out.Target.Name(), resp)
			}
			time.Sleep(time.Second)
		}
		if got := breakerOf(tbl, "a/rr-a"); got != "open" {
			t.Errorf("breaker of a is %s after the outage", got)
		}
	})
}

func TestRerankAttemptTimeoutFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g, _, sims := rerankEnv(t)
		if err := sims["a"].SetFaults("rr-a", config.Faults{Hang: config.Fault{Rate: 1}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, out, err := g.Rerank(context.Background(), tenant.Principal{}, rerankReq())
		if err != nil || out.Target.Name() != "b/rr-b" || len(out.Tried) != 2 || out.Tried[0].Kind != llm.KindTimeout {
			t.Fatalf("err %v, attempts %v", err, out.Tried)
		}
		if d := time.Since(start); d != time.Second+50*time.Millisecond {
			t.Errorf("took %s, want the attempt timeout and b's latency", d)
		}
	})
}

func TestRerankAPIServedByTheFallback(t *testing.T) {
	g, _, sims := rerankEnv(t)
	if err := sims["a"].SetFaults("rr-a", config.Faults{Reset: config.Fault{Rate: 1}}); err != nil {
		t.Fatal(err)
	}
	h := openai.New(g, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r := httptest.NewRequest(http.MethodPost, "/v1/rerank",
		strings.NewReader(`{"model":"rerank","query":"circuit breaker","documents":["bread",{"text":"circuit breaker"}],"return_documents":true}`))
	w := httptest.NewRecorder()
	h.Routes()["POST /v1/rerank"](w, r, tenant.Principal{})
	if w.Code != http.StatusOK || w.Header().Get(openai.HeaderTarget) != "b/rr-b" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	var got struct {
		Results []struct {
			Index    int `json:"index"`
			Document struct {
				Text string `json:"text"`
			} `json:"document"`
		} `json:"results"`
		Model string `json:"model"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Model != "rr-b" || len(got.Results) != 2 || got.Results[0].Index != 1 || got.Results[0].Document.Text != "circuit breaker" {
		t.Errorf("response %s", w.Body)
	}
}
