package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/bulwark-ai/bulwark/llm"
)

// maxBatch is how many texts one batchEmbedContents call may carry.
const maxBatch = 100

type (
	embedRequest struct {
		Model                string  `json:"model"`
		Content              content `json:"content"`
		OutputDimensionality int     `json:"outputDimensionality,omitempty"`
	}
	batchRequest struct {
		Requests []embedRequest `json:"requests"`
	}
	embedding struct {
		Values []float32 `json:"values"`
	}
	embedResponse struct {
		Embedding *embedding `json:"embedding"`
		// Embeddings is batchEmbedContents' answer, in request order.
		Embeddings []embedding `json:"embeddings"`
		// UsageMetadata is read when an upstream sends it (Gemini's API
		// does not).
		UsageMetadata *struct {
			PromptTokenCount int `json:"promptTokenCount"`
		} `json:"usageMetadata"`
		Error json.RawMessage `json:"error"`
	}
)

// Embed computes embeddings: one input with embedContent, several with
// batchEmbedContents (in calls of at most maxBatch), Dimensions as
// outputDimensionality. Vectors are returned in input order. Gemini states
// no token counts for embeddings: unless the upstream does, the prompt
// tokens are estimated as a token per four bytes of input.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Input) == 0 {
		return nil, c.own(badRequest(req.Model, "no input to embed"), req.Model)
	}
	if req.Dimensions < 0 {
		return nil, c.own(badRequest(req.Model, "dimensions must be positive"), req.Model)
	}
	out := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, 0, len(req.Input))}
	stated, tokens := true, 0
	for start := 0; start < len(req.Input); start += maxBatch {
		batch := req.Input[start:min(start+maxBatch, len(req.Input))]
		vecs, t, err := c.embedBatch(ctx, req, batch)
		if err != nil {
			return nil, err
		}
		out.Vectors = append(out.Vectors, vecs...)
		if t < 0 {
			stated = false
		}
		tokens += t
	}
	if !stated {
		tokens = 0
		for _, in := range req.Input {
			tokens += (len(in) + 3) / 4
		}
	}
	out.Usage = llm.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return out, nil
}

// embedBatch embeds texts in one call. tokens is the prompt tokens the
// upstream stated, -1 when it stated none.
func (c *Client) embedBatch(ctx context.Context, req *llm.EmbedRequest, texts []string) (vecs [][]float32, tokens int, err error) {
	reqs := make([]embedRequest, len(texts))
	for i, t := range texts {
		reqs[i] = embedRequest{
			Model:                "models/" + modelPath(req.Model),
			Content:              content{Parts: []part{{Text: t}}},
			OutputDimensionality: req.Dimensions,
		}
	}
	method := "batchEmbedContents"
	var v any = batchRequest{Requests: reqs}
	if len(texts) == 1 {
		method, v = "embedContent", reqs[0]
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, 0, c.errorf(llm.KindBadRequest, req.Model, err, "encode request: %v", err)
	}
	resp, err := c.post(ctx, req.Model, method, body, false)
	if err != nil {
		return nil, 0, err
	}
	b, err := c.errs().ReadBody(ctx, resp, req.Model, maxResponseBytes)
	if err != nil {
		return nil, 0, err
	}
	var w embedResponse
	if err := json.Unmarshal(b, &w); err != nil {
		e := c.errorf(llm.KindServer, req.Model, err, "embeddings response: %v", err)
		e.Status = http.StatusOK
		return nil, 0, e
	}
	if isPresent(w.Error) {
		return nil, 0, c.eventError(w.Error, req.Model)
	}
	got := w.Embeddings
	if len(texts) == 1 && w.Embedding != nil {
		got = []embedding{*w.Embedding}
	}
	if len(got) != len(texts) {
		return nil, 0, c.errorf(llm.KindServer, req.Model, nil, "embeddings response has %d vectors for %d inputs", len(got), len(texts))
	}
	vecs = make([][]float32, len(got))
	for i, e := range got {
		if len(e.Values) == 0 {
			return nil, 0, c.errorf(llm.KindServer, req.Model, nil, "%s", fmt.Sprintf("embeddings response: vector %d is empty", i))
		}
		vecs[i] = e.Values
	}
	tokens = -1
	if w.UsageMetadata != nil {
		tokens = w.UsageMetadata.PromptTokenCount
	}
	return vecs, tokens, nil
}
