package app

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

// TestGroundedChat: an alias bound to a vector store answers Chat
// Completions grounded in it, with the citations in the "bulwark" field
// (plain) or a first chunk (streamed) and the chunk count in a header; a
// store that cannot be searched fails the request with a 503, or on an
// alias that answers without, is answered and marked degraded.
func TestGroundedChat(t *testing.T) {
	ts := start(t, fastConfig)
	c := sdk(ts)
	ctx := context.Background()
	store, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("handbook")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.VectorStores.Files.UploadAndPoll(ctx, store.ID, openai.FileNewParams{
		File:    openai.File(strings.NewReader(handbook), "handbook.md", "text/markdown"),
		Purpose: openai.FilePurposeAssistants,
	}, 20)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig + `  - name: grounded
    targets: [{provider: fast, model: fast-chat}]
    knowledge: {vector_store_ids: [` + store.ID + `], max_num_results: 2}
  - name: missing
    targets: [{provider: fast, model: fast-chat}]
    knowledge: {vector_store_ids: [vs_nope]}
  - name: missing-soft
    targets: [{provider: fast, model: fast-chat}]
    knowledge: {vector_store_ids: [vs_nope], on_failure: answer}
`
	if err := os.WriteFile(ts.app.opts.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.app.Reload(); err != nil {
		t.Fatal(err)
	}

	resp, body := ts.do(t, "POST", "/v1/chat/completions", `{"model":"grounded","messages":[{"role":"user","content":"Who answers pages?"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Retrieval-Chunks") == "" {
		t.Fatalf("grounded chat: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	var ans struct {
		Choices []json.RawMessage `json:"choices"`
		Bulwark struct {
			Citations []struct {
				Index    int    `json:"index"`
				FileID   string `json:"file_id"`
				Filename string `json:"filename"`
				Text     string `json:"text"`
			} `json:"citations"`
		} `json:"bulwark"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	cit := ans.Bulwark.Citations
	if len(ans.Choices) != 1 || len(cit) == 0 || cit[0].Index != 1 || cit[0].FileID != f.ID || cit[0].Filename != "handbook.md" || !strings.Contains(cit[0].Text, "on-call") {
		t.Fatalf("grounded answer %s", body)
	}
	// The official SDK reads the answer as ever.
	comp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "grounded",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who answers pages?")}})
	if err != nil || len(comp.Choices) != 1 || !strings.Contains(comp.RawJSON(), `"citations"`) {
		t.Fatalf("SDK: %v %+v", err, comp)
	}

	// Streamed: the first chunk carries the citations.
	req, _ := http.NewRequest("POST", ts.url+"/v1/chat/completions", strings.NewReader(`{"model":"grounded","stream":true,"messages":[{"role":"user","content":"Who answers pages?"}]}`))
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	var events []string
	sc := bufio.NewScanner(sresp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, d)
		}
	}
	if len(events) < 3 || !strings.Contains(events[0], `"citations"`) || !strings.Contains(events[0], f.ID) || events[len(events)-1] != "[DONE]" {
		t.Fatalf("grounded stream: %q", events)
	}
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "grounded",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who answers pages?")}})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil || len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" {
		t.Fatalf("SDK stream: %v %+v", err, acc.Choices)
	}

	// A store that cannot be searched.
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"missing","messages":[{"role":"user","content":"Who answers pages?"}]}`)
	mustOpenAIError(t, resp, body, 503, "retrieval_unavailable")
	if !strings.Contains(string(body), "vs_nope") {
		t.Errorf("503 does not name the store: %s", body)
	}
	resp, body = ts.do(t, "POST", "/v1/chat/completions", `{"model":"missing-soft","messages":[{"role":"user","content":"Who answers pages?"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Bulwark-Degraded") != "retrieval" || !strings.Contains(string(body), `"degraded":`) {
		t.Fatalf("degraded: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// Drift detection tracks what retrieval adds for the alias.
	_, drift := ts.do(t, "GET", "/admin/v1/drift/grounded", "")
	var rep struct {
		Scores []struct {
			Dimension string   `json:"dimension"`
			Current   []uint64 `json:"current"`
		} `json:"scores"`
		NoContext *struct {
			Current float64 `json:"current"`
		} `json:"no_context"`
	}
	if err := json.Unmarshal(drift, &rep); err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for _, sc := range rep.Scores {
		for _, n := range sc.Current {
			seen[sc.Dimension] += n
		}
	}
	// Four grounded answers; the first query has no centroid to measure
	// its distance against.
	if seen["retrieval_chunks"] != 4 || seen["retrieval_score"] != 4 || seen["query_distance"] != 3 || rep.NoContext == nil || rep.NoContext.Current != 0 {
		t.Errorf("drift of the grounded alias: %v, no context %+v\n%s", seen, rep.NoContext, drift)
	}

	// The usage ledger says what retrieval added, per alias.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ub := ts.do(t, "GET", "/admin/v1/usage?group_by=alias", "")
		var u struct {
			Data []struct {
				Group           string `json:"group"`
				Requests        int64  `json:"requests"`
				RetrievalChunks int64  `json:"retrieval_chunks"`
				RetrievalTokens int64  `json:"retrieval_tokens"`
				Retrieval       int64  `json:"retrieval_ns"`
			} `json:"data"`
		}
		if err := json.Unmarshal(ub, &u); err != nil {
			t.Fatal(err)
		}
		var ok bool
		for _, r := range u.Data {
			if r.Group == "grounded" && r.Requests == 4 {
				ok = true
				if r.RetrievalChunks < 4 || r.RetrievalTokens <= 0 || r.Retrieval <= 0 {
					t.Errorf("usage of the grounded alias: %+v", r)
				}
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage by alias: %s", ub)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The metric counts each outcome.
	_, metrics := ts.do(t, "GET", "/metrics", "")
	for _, want := range []string{`bulwark_retrieval_total{alias="grounded",outcome="ok"}`, `bulwark_retrieval_total{alias="missing",outcome="failed"} 1`, `bulwark_retrieval_total{alias="missing-soft",outcome="degraded"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
