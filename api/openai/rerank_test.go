package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

func TestDecodeRerank(t *testing.T) {
	req, docs, err := decodeRerank([]byte(`{"model":"rr","query":"q","documents":["a",{"text":"b","id":7}],"top_n":1,"return_documents":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "rr" || req.Query != "q" || fmt.Sprint(req.Documents) != "[a b]" || req.TopN != 1 || !docs {
		t.Errorf("%+v %v", req, docs)
	}
}

func TestDecodeRerankRejects(t *testing.T) {
	many := `"d"` + strings.Repeat(`,"d"`, maxRerankDocuments)
	for name, c := range map[string]struct{ body, param string }{
		"empty body":         {``, ""},
		"not an object":      {`[1]`, ""},
		"unknown field":      {`{"model":"rr","query":"q","documents":["a"],"rank_fields":["x"]}`, ""},
		"trailing data":      {`{"model":"rr","query":"q","documents":["a"]} {}`, ""},
		"missing model":      {`{"query":"q","documents":["a"]}`, "model"},
		"missing query":      {`{"model":"rr","documents":["a"]}`, "query"},
		"empty query":        {`{"model":"rr","query":"","documents":["a"]}`, "query"},
		"query not string":   {`{"model":"rr","query":5,"documents":["a"]}`, "query"},
		"missing documents":  {`{"model":"rr","query":"q"}`, "documents"},
		"empty documents":    {`{"model":"rr","query":"q","documents":[]}`, "documents"},
		"too many documents": {`{"model":"rr","query":"q","documents":[` + many + `]}`, "documents"},
		"document number":    {`{"model":"rr","query":"q","documents":["a",3]}`, "documents"},
		"document no text":   {`{"model":"rr","query":"q","documents":[{"title":"a"}]}`, "documents"},
		"document null":      {`{"model":"rr","query":"q","documents":[null]}`, "documents"},
		"top_n zero":         {`{"model":"rr","query":"q","documents":["a"],"top_n":0}`, "top_n"},
		"top_n negative":     {`{"model":"rr","query":"q","documents":["a"],"top_n":-2}`, "top_n"},
	} {
		_, _, err := decodeRerank([]byte(c.body))
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Type != api.TypeInvalidRequest {
			t.Errorf("%s: %v, want a 400", name, err)
			continue
		}
		if c.param != "" && ae.Param != c.param {
			t.Errorf("%s: param %q, want %q (%s)", name, ae.Param, c.param, ae.Message)
		}
	}
}

func FuzzDecodeRerank(f *testing.F) {
	f.Add([]byte(`{"model":"rr","query":"q","documents":["a",{"text":"b"}],"top_n":1,"return_documents":true}`))
	f.Add([]byte(`{"model":"rr","query":"q","documents":[{"text":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, _, err := decodeRerank(b)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if req.Model == "" || req.Query == "" || len(req.Documents) == 0 || len(req.Documents) > maxRerankDocuments || req.TopN < 0 {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// rerankProvider is provider (streams only) that also reranks: document i
// scores i.
type rerankProvider struct{ provider }

func (p *rerankProvider) Rerank(_ context.Context, req *llm.RerankRequest) (*llm.RerankResponse, error) {
	out := &llm.RerankResponse{Usage: llm.Usage{PromptTokens: 9}}
	for i := range req.Documents {
		out.Results = append(out.Results, llm.RerankResult{Index: i, Score: float64(i) / 10})
	}
	llm.SortRerank(out.Results)
	if req.TopN > 0 {
		out.Results = out.Results[:min(req.TopN, len(out.Results))]
	}
	return out, nil
}

func postRerank(t *testing.T, h *Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/rerank", strings.NewReader(body))
	w := httptest.NewRecorder()
	h.Routes()["POST /v1/rerank"](w, r, tenant.Principal{})
	return w
}

func TestRerankHandler(t *testing.T) {
	h := newHandler(t, &rerankProvider{}, nil)
	w := postRerank(t, h, `{"model":"chat","query":"q","documents":["a",{"text":"b <&>"},"c"],"top_n":2,"return_documents":true}`)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Header().Get(HeaderTarget) != "up/m" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	var got struct {
		ID      string `json:"id"`
		Results []struct {
			Index    int     `json:"index"`
			Score    float64 `json:"relevance_score"`
			Document *struct {
				Text string `json:"text"`
			} `json:"document"`
		} `json:"results"`
		Model string `json:"model"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	if !strings.HasPrefix(got.ID, "rerank-") || got.Model != "m" || got.Usage.TotalTokens != 9 || len(got.Results) != 2 ||
		got.Results[0].Index != 2 || got.Results[0].Document.Text != "c" || got.Results[1].Document.Text != "b <&>" || got.Results[1].Score != 0.1 {
		t.Errorf("response %s", w.Body)
	}

	// Without return_documents, no document.
	w = postRerank(t, h, `{"model":"chat","query":"q","documents":["a"]}`)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "document") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestRerankHandlerErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		p         llm.Provider
		body      string
		status    int
		code      string
		inMessage string
	}{
		{"bad input", &rerankProvider{}, `{"model":"chat","query":"q","documents":[]}`, 400, "", "documents"},
		{"top_n", &rerankProvider{}, `{"model":"chat","query":"q","documents":["a"],"top_n":0}`, 400, "", "top_n"},
		{"unknown model", &rerankProvider{}, `{"model":"nope","query":"q","documents":["a"]}`, 404, "model_not_found", "nope"},
		{"provider cannot rerank", &provider{}, `{"model":"chat","query":"q","documents":["a"]}`, 400, "unsupported_operation", "up/m"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := postRerank(t, newHandler(t, c.p, nil), c.body)
			var wire api.Wire
			if err := json.Unmarshal(w.Body.Bytes(), &wire); err != nil || w.Code != c.status {
				t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
			}
			if c.code != "" && (wire.Error.Code == nil || *wire.Error.Code != c.code) {
				t.Errorf("code in %s, want %s", w.Body, c.code)
			}
			if !strings.Contains(wire.Error.Message, c.inMessage) {
				t.Errorf("message %q does not say %q", wire.Error.Message, c.inMessage)
			}
		})
	}
}
