package gemini

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

func TestEmbedSingle(t *testing.T) {
	c, f := newFake(t, 200, "", `{"embedding":{"values":[0.1,-0.2,0.3]}}`)
	resp, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: "text-embedding-004", Input: []string{"hello world!"}, Dimensions: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vectors) != 1 || len(resp.Vectors[0]) != 3 || resp.Vectors[0][1] != -0.2 || resp.Model != "text-embedding-004" {
		t.Errorf("response %+v", resp)
	}
	if resp.Usage.PromptTokens != 3 || resp.Usage.TotalTokens != 3 {
		t.Errorf("estimated usage %+v, want 3 tokens", resp.Usage)
	}
	r := f.last(t)
	if r.path != "/v1beta/models/text-embedding-004:embedContent" {
		t.Errorf("path %s", r.path)
	}
	want := `{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello world!"}]},"outputDimensionality":3}`
	if string(r.body) != want {
		t.Errorf("body %s, want %s", r.body, want)
	}
}

func TestEmbedBatch(t *testing.T) {
	c, f := newFake(t, 200, "", `{"embeddings":[{"values":[1,0]},{"values":[0,1]}],"usageMetadata":{"promptTokenCount":11}}`)
	resp, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vectors) != 2 || resp.Vectors[0][0] != 1 || resp.Vectors[1][1] != 1 || resp.Usage.PromptTokens != 11 {
		t.Errorf("response %+v", resp)
	}
	r := f.last(t)
	var w batchRequest
	if r.path != "/v1beta/models/m:batchEmbedContents" || json.Unmarshal(r.body, &w) != nil || len(w.Requests) != 2 ||
		w.Requests[1].Content.Parts[0].Text != "b" || w.Requests[0].Model != "models/m" || strings.Contains(string(r.body), "outputDimensionality") {
		t.Errorf("request %s %s", r.path, r.body)
	}
}

func TestEmbedBatches(t *testing.T) {
	// 250 inputs take three calls of at most 100; the upstream answers each
	// input "i" with the vector [i], so the order can be checked.
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		var req batchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Requests) > maxBatch {
			http.Error(w, "bad batch", 400)
			return
		}
		var out []string
		for _, er := range req.Requests {
			out = append(out, `{"values":[`+er.Content.Parts[0].Text+`]}`)
		}
		io.WriteString(w, `{"embeddings":[`+strings.Join(out, ",")+`]}`)
	}))
	defer srv.Close()
	c, err := New(Options{Name: "gm", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([]string, 250)
	for i := range inputs {
		inputs[i] = strconv.Itoa(i)
	}
	resp, err := c.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || len(resp.Vectors) != 250 {
		t.Fatalf("%d calls, %d vectors", calls, len(resp.Vectors))
	}
	for i, v := range resp.Vectors {
		if v[0] != float32(i) {
			t.Fatalf("vector %d is input %v's", i, v[0])
		}
	}
}

func TestEmbedErrors(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		kind       llm.Kind
	}{
		{"count", `{"embeddings":[{"values":[1]}]}`, 200, llm.KindServer},
		{"empty vector", `{"embeddings":[{"values":[]},{"values":[1]}]}`, 200, llm.KindServer},
		{"not json", `{`, 200, llm.KindServer},
		{"error object", `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"q"}}`, 200, llm.KindRateLimited},
		{"status", googleBody(404, "NOT_FOUND", "no model", ""), 404, llm.KindNotFound},
	}
	for _, c := range cases {
		cl, _ := newFake(t, c.status, "", c.body)
		_, err := cl.Embed(t.Context(), &llm.EmbedRequest{Model: "m", Input: []string{"a", "b"}})
		if e := asError(t, err); e.Kind != c.kind || e.Model != "m" {
			t.Errorf("%s: %v", c.name, e)
		}
	}
	cl, _ := newFake(t, 200, "", "")
	if _, err := cl.Embed(t.Context(), &llm.EmbedRequest{Model: "m"}); asError(t, err).Kind != llm.KindBadRequest {
		t.Errorf("no input: %v", err)
	}
}
