package bedrock

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/sim"
)

// simClient returns a Client talking to a simulator serving models, and a
// counter of the calls per path.
func simClient(t *testing.T, models map[string]config.SimModel) (*Client, *sim.Sim, func() map[string]int) {
	t.Helper()
	s := sim.New("sim", 1, models)
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.EscapedPath()]++
		mu.Unlock()
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(t.Context(), Options{Name: "bedrock-test", Region: "eu-west-3", Endpoint: srv.URL, Credentials: staticCreds})
	if err != nil {
		t.Fatal(err)
	}
	return c, s, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range calls {
			out[k] = v
		}
		return out
	}
}

func inputs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("Text number %d about the lighthouse keeper.", i)
	}
	return out
}

// TestEmbedCohereBatches: Cohere's models take 96 texts a call; the
// vectors come back in input order, equal to the simulator's own.
func TestEmbedCohereBatches(t *testing.T) {
	const model = "cohere.embed-english-v3"
	c, s, calls := simClient(t, map[string]config.SimModel{model: {Kind: "embedding", Dimensions: 16}})
	in := inputs(200)
	resp, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: model, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if n := calls()["/model/"+model+"/invoke"]; n != 3 {
		t.Errorf("%d calls for 200 texts, want 3", n)
	}
	want, err := s.Embed(t.Context(), &llm.EmbedRequest{Model: model, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if fmt.Sprint(resp.Vectors[i]) != fmt.Sprint(want.Vectors[i]) {
			t.Fatalf("vector %d differs from the simulator's", i)
		}
	}
	if resp.Usage.PromptTokens != want.Usage.PromptTokens || resp.Usage.TotalTokens != want.Usage.PromptTokens || resp.Model != model {
		t.Errorf("usage %+v model %q, want %+v", resp.Usage, resp.Model, want.Usage)
	}
	if _, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: model, Input: in[:1], Dimensions: 8}); asLLMError(t, err).Code != "unsupported_feature" {
		t.Errorf("dimensions on Cohere v3: %v", err)
	}
}

// TestEmbedTitan: one call per input, dimensions passed on, usage summed.
func TestEmbedTitan(t *testing.T) {
	const model = "amazon.titan-embed-text-v2:0"
	c, s, calls := simClient(t, map[string]config.SimModel{model: {Kind: "embedding", Dimensions: 64}})
	in := inputs(20)
	resp, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: model, Input: in, Dimensions: 32})
	if err != nil {
		t.Fatal(err)
	}
	if n := calls()["/model/amazon.titan-embed-text-v2%3A0/invoke"]; n != 20 {
		t.Errorf("calls %v, want 20 to the model", calls())
	}
	want, _ := s.Embed(t.Context(), &llm.EmbedRequest{Model: model, Input: in, Dimensions: 32})
	for i := range in {
		if len(resp.Vectors[i]) != 32 || fmt.Sprint(resp.Vectors[i]) != fmt.Sprint(want.Vectors[i]) {
			t.Fatalf("vector %d differs from the simulator's", i)
		}
	}
	if resp.Usage.PromptTokens != want.Usage.PromptTokens {
		t.Errorf("usage %+v, want %+v", resp.Usage, want.Usage)
	}

	// One failing input fails the call.
	s.SetFaults(model, config.Faults{ErrorRates: map[int]float64{429: 0.3}})
	_, err = c.Embed(t.Context(), &llm.EmbedRequest{Model: model, Input: inputs(40)})
	if e := asLLMError(t, err); e.Kind != llm.KindRateLimited || e.Model != model {
		t.Errorf("%+v", e)
	}
}

func TestEmbedMalformed(t *testing.T) {
	for _, body := range []string{`{"embedding":[]}`, `not json`, `{"embeddings":"x"}`} {
		for _, model := range []string{"amazon.titan-embed-text-v2:0", "cohere.embed-v4:0"} {
			c := newFakeClient(t, &fake{body: []byte(body)}, Options{})
			_, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: model, Input: []string{"a"}})
			if e := asLLMError(t, err); e.Kind != llm.KindServer || !strings.Contains(e.Message, "malformed") {
				t.Errorf("%s %s: %+v", model, body, e)
			}
		}
	}
}

// TestChatToolUseThroughSim: a forced tool call comes back from the
// simulator as an OpenAI tool call, plain and streamed alike.
func TestChatToolUseThroughSim(t *testing.T) {
	const model = "anthropic.claude-sim"
	c, _, _ := simClient(t, map[string]config.SimModel{model: {}})
	body := `{"messages":[{"role":"user","content":"Weather in Paris?"}],"max_tokens":40,
	"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
	"tool_choice":"required"}`
	resp, err := c.Chat(t.Context(), chatRequest(model, body))
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReasons[0] != "tool_calls" || !strings.Contains(string(resp.Body), `"name":"get_weather"`) {
		t.Errorf("answer %s", resp.Body)
	}
	s, err := c.Stream(t.Context(), chatRequest(model, body))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, _ := drain(t, s)
	var args strings.Builder
	finish := ""
	for _, ch := range chunks {
		w := parseChunk(t, ch)
		for _, c := range w.Choices {
			for _, tc := range c.Delta.ToolCalls {
				args.WriteString(tc.Function.Arguments)
			}
		}
		if ch.FinishReason != "" {
			finish = ch.FinishReason
		}
	}
	if finish != "tool_calls" || !strings.HasPrefix(args.String(), `{"city":"`) || !strings.Contains(string(resp.Body), strings.ReplaceAll(args.String(), `"`, `\"`)) {
		t.Errorf("streamed arguments %q, finish %q; plain answer %s", args.String(), finish, resp.Body)
	}
}
