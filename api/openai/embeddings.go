package openai

import (
	"encoding/base64"
	"encoding/binary"
	"math"
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
	if err == nil {
		req.Priority, err = priority(r)
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.Annotate(w, req.Model, "")
	ctx, cancel := h.context(r)
	defer cancel()
	resp, out, err := h.gw.Embed(ctx, p, req)
	setOutcome(w, out)
	if err != nil {
		api.WriteError(w, err)
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
	var raw []byte
	for i, v := range resp.Vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if b64 {
			raw = raw[:0]
			for _, f := range v {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, f := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
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
