package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/route"
	"github.com/bulwark-ai/bulwark/tenant"
)

// flaky fails its first call with a 503 and answers the next.
type flaky struct{ calls int }

func (f *flaky) Chat(ctx context.Context, req *llm.ChatRequest) (*llm.ChatResponse, error) {
	f.calls++
	if f.calls == 1 {
		return nil, &llm.Error{Kind: llm.KindOverloaded, Status: 503}
	}
	return &llm.ChatResponse{Model: req.Model, Body: []byte(`{}`), Usage: llm.Usage{PromptTokens: 11, CompletionTokens: 22}}, nil
}

func (f *flaky) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, &llm.Error{Kind: llm.KindBadRequest, Status: 400}
}

func (f *flaky) Stream(ctx context.Context, req *llm.ChatRequest) (llm.Stream, error) {
	return nil, &llm.Error{Kind: llm.KindBadRequest, Status: 400}
}

// accessLine serves one request through a handler whose route calls a
// real gateway, and returns the access log line it wrote.
func accessLine(t *testing.T, model, secret string) map[string]any {
	t.Helper()
	tbl, err := route.New([]config.Model{{
		Name: "chat", Targets: []config.Target{{Provider: "p", Model: "m"}},
		Retry: config.Retry{Backoff: config.Backoff{Base: config.Duration(1000), Max: config.Duration(2000)}},
	}}, map[string]llm.Provider{"p": &flaky{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(tbl, gateway.Options{Status: func(err error) int { return AsError(err).Status }})
	var buf bytes.Buffer
	h := NewHandler(Options{
		Auth: staticAuth{secret: {TenantID: "acme", KeyID: "key_7"}},
		Log:  slog.New(slog.NewJSONHandler(&buf, nil)),
		API: map[string]AuthedHandler{
			"POST /v1/chat": func(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
				Annotate(w, model, "")
				resp, _, err := gw.Chat(r.Context(), p, &llm.ChatRequest{Model: model})
				if err != nil {
					WriteError(w, err)
					return
				}
				_, _ = w.Write(resp.Body)
			},
		},
	})
	r := httptest.NewRequest("POST", "/v1/chat", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	r.Header.Set(HeaderRequestID, "req-abc")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if strings.Contains(buf.String(), secret) {
		t.Errorf("the access log holds the key's secret: %s", buf.String())
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("access log %q: %v", buf.String(), err)
	}
	return line
}

func TestAccessLogCarriesTheGatewaysOutcome(t *testing.T) {
	line := accessLine(t, "chat", "bk-very-secret-key-material-0123456789")
	for k, want := range map[string]any{
		"msg": "request", "request_id": "req-abc", "method": "POST", "path": "/v1/chat", "status": 200.0,
		"tenant": "acme", "key_id": "key_7", "model": "chat", "alias": "chat", "target": "p/m",
		"attempts": 2.0, "tokens_in": 11.0, "tokens_out": 22.0,
	} {
		if line[k] != want {
			t.Errorf("%s = %v; want %v (line %v)", k, line[k], want, line)
		}
	}
	latency, ok0 := line["latency_ms"].(float64)
	upstream, ok1 := line["upstream_ms"].(float64)
	overhead, ok2 := line["overhead_ms"].(float64)
	if !ok0 || !ok1 || !ok2 || latency <= 0 || overhead < 0 || upstream < 0 || overhead > latency {
		t.Errorf("latency %v, upstream %v, overhead %v", line["latency_ms"], line["upstream_ms"], line["overhead_ms"])
	}
	if _, ok := line["error_type"]; ok {
		t.Errorf("a success has an error_type: %v", line)
	}
}

func TestAccessLogOfAFailure(t *testing.T) {
	line := accessLine(t, "nope", "bk-another-secret-key-material-987654")
	if line["status"] != 404.0 || line["error_type"] != "model_not_found" || line["attempts"] != 0.0 || line["key_id"] != "key_7" {
		t.Errorf("line = %v", line)
	}
}
