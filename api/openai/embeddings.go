package openai

import (
	"net/http"
	"strconv"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	body, err := api.ReadBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	req, b64, err := decodeEmbed(body)
	var e edge
	if err == nil {
		e, err = readEdge(r)
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	req.Priority, req.ClientRetries = e.priority, e.retries
	api.Annotate(w, req.Model, "")
	req.RequestID = api.RequestID(w) // for the usage ledger
	ctx, cancel := h.context(r, e.timeout)
	defer cancel()
	resp, out, err := h.gw.Embed(ctx, p, req)
	setOutcome(w, out)
	if err != nil {
		api.WriteError(w, failure(r, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(encodeEmbeddings(resp, b64))
}

// encodeEmbeddings writes OpenAI's embeddings response. Floats are written
// with the shortest representation that reads back as the same float32.
func encodeEmbeddings(resp *llm.EmbedResponse, b64 bool) []byte {
	size := 128
	for _, v := range resp.Vectors {
		size += 64 + len(v)*12
	}
	b := make([]byte, 0, size)
	b = append(b, `{"object":"list","data":[`...)
	for i, v := range resp.Vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = llm.AppendEmbedding(b, i, v, b64)
	}
	b = append(b, `],"model":`...)
	b = strconv.AppendQuote(b, resp.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(resp.Usage.PromptTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(resp.Usage.TotalTokens), 10)
	b = append(b, "}}"...)
	return b
}
