package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// Embedding batch limits.
const (
	// cohereBatch is how many texts Cohere's embedding models take in one
	// call.
	cohereBatch = 96
	// titanParallel is how many Titan calls (one per input) run at once.
	titanParallel = 8
	// maxEmbedResponse bounds an InvokeModel body the provider decodes.
	maxEmbedResponse = 64 << 20
)

// isCohere reports whether model is one of Cohere's embedding models (a
// cross-region profile id such as us.cohere.embed-v4:0 included); every
// other model is called in Titan's form.
func isCohere(model string) bool { return strings.Contains(model, "cohere.embed") }

// Embed computes embeddings with InvokeModel: Cohere's models in batches
// of cohereBatch texts, Titan's one call per input, titanParallel at once.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Input) == 0 {
		return nil, c.stamp(badRequest(req.Model, "input must not be empty"), req.Model)
	}
	resp := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, len(req.Input))}
	var err error
	if isCohere(req.Model) {
		err = c.embedCohere(ctx, req, resp)
	} else {
		err = c.embedTitan(ctx, req, resp)
	}
	if err != nil {
		return nil, err
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	return resp, nil
}

func (c *Client) embedCohere(ctx context.Context, req *llm.EmbedRequest, resp *llm.EmbedResponse) error {
	v4 := strings.Contains(req.Model, "cohere.embed-v4")
	if req.Dimensions != 0 && !v4 {
		return oai.Unsupported(c.name, req.Model, "dimensions")
	}
	for start := 0; start < len(req.Input); start += cohereBatch {
		texts := req.Input[start:min(start+cohereBatch, len(req.Input))]
		body := map[string]any{"texts": texts, "input_type": "search_document"}
		if req.Dimensions != 0 {
			body["output_dimension"] = req.Dimensions
		}
		out, tokens, err := c.invoke(ctx, req.Model, body)
		if err != nil {
			return err
		}
		vecs, err := parseCohere(out)
		if err == nil && len(vecs) != len(texts) {
			err = fmt.Errorf("%d embeddings for %d texts", len(vecs), len(texts))
		}
		if err != nil {
			return c.malformed(req.Model, err)
		}
		copy(resp.Vectors[start:], vecs)
		resp.Usage.PromptTokens += tokens
	}
	return nil
}

func (c *Client) embedTitan(ctx context.Context, req *llm.EmbedRequest, resp *llm.EmbedResponse) error {
	v1 := strings.Contains(req.Model, "titan-embed-text-v1")
	if req.Dimensions != 0 && v1 {
		return oai.Unsupported(c.name, req.Model, "dimensions")
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		first  error
		sem    = make(chan struct{}, titanParallel)
		tokens = make([]int, len(req.Input))
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	for i, text := range req.Input {
		select {
		case sem <- struct{}{}:
		case <-cctx.Done():
		}
		if cctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			body := map[string]any{"inputText": text}
			if !v1 {
				body["normalize"] = true
				if req.Dimensions != 0 {
					body["dimensions"] = req.Dimensions
				}
			}
			out, n, err := c.invoke(cctx, req.Model, body)
			if err != nil {
				fail(err)
				return
			}
			vec, count, err := parseTitan(out)
			if err != nil {
				fail(c.malformed(req.Model, err))
				return
			}
			if n == 0 {
				n = count
			}
			resp.Vectors[i], tokens[i] = vec, n
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return c.ctxError(req.Model, err)
	}
	for _, n := range tokens {
		resp.Usage.PromptTokens += n
	}
	return nil
}

// invoke calls InvokeModel with a JSON body and returns the answer's body
// and its input token count (X-Amzn-Bedrock-Input-Token-Count, 0 when
// absent).
func (c *Client) invoke(ctx context.Context, model string, body any) ([]byte, int, error) {
	b, err := json.Marshal(body)
	if err != nil { // strings and numbers only
		return nil, 0, c.stamp(err, model)
	}
	out, err := c.rt.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId: aws.String(model), Body: b, ContentType: aws.String("application/json"), Accept: aws.String("application/json"),
	})
	if err != nil {
		return nil, 0, c.apiError(ctx, model, err)
	}
	tokens := 0
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		tokens, _ = strconv.Atoi(raw.Header.Get("X-Amzn-Bedrock-Input-Token-Count"))
	}
	if len(out.Body) > maxEmbedResponse {
		return nil, 0, c.malformed(model, fmt.Errorf("the response is larger than %d bytes", maxEmbedResponse))
	}
	return out.Body, max(tokens, 0), nil
}

// parseTitan decodes a Titan embedding answer: {"embedding": [...],
// "inputTextTokenCount": n}.
func parseTitan(b []byte) ([]float32, int, error) {
	var w struct {
		Embedding []float32 `json:"embedding"`
		Tokens    int       `json:"inputTextTokenCount"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, 0, err
	}
	if len(w.Embedding) == 0 {
		return nil, 0, errors.New("no embedding in the response")
	}
	return w.Embedding, max(w.Tokens, 0), nil
}

// parseCohere decodes a Cohere embedding answer: "embeddings" is a list of
// float vectors, or, when embedding types were asked for, an object whose
// "float" member is.
func parseCohere(b []byte) ([][]float32, error) {
	var w struct {
		Embeddings json.RawMessage `json:"embeddings"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	var vecs [][]float32
	switch e := strings.TrimSpace(string(w.Embeddings)); {
	case strings.HasPrefix(e, "["):
		if err := json.Unmarshal(w.Embeddings, &vecs); err != nil {
			return nil, err
		}
	case strings.HasPrefix(e, "{"):
		var typed struct {
			Float [][]float32 `json:"float"`
		}
		if err := json.Unmarshal(w.Embeddings, &typed); err != nil {
			return nil, err
		}
		vecs = typed.Float
	default:
		return nil, errors.New("no embeddings in the response")
	}
	for i, v := range vecs {
		if len(v) == 0 {
			return nil, fmt.Errorf("embedding %d is empty", i)
		}
	}
	return vecs, nil
}

func (c *Client) malformed(model string, err error) *llm.Error {
	return &llm.Error{Kind: llm.KindServer, Status: http.StatusOK, Provider: c.name, Model: model,
		Message: "malformed embeddings response: " + err.Error(), Err: err}
}
