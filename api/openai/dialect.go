package openai

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Dialect is another API's wire format for chat (api/anthropic serves
// Anthropic's Messages API with one): a chat request translated to
// OpenAI's format is served through this Handler exactly as a chat
// completion is — the same gateway call, headers, deadlines, heartbeats,
// stream relay and write timeouts — and only the answer and the errors
// are written in the dialect's format.
type Dialect interface {
	// WriteError answers err, before any of the answer was written.
	WriteError(w http.ResponseWriter, err error)
	// WriteCompletion answers a plain (not streamed) completion.
	WriteCompletion(w http.ResponseWriter, resp *llm.ChatResponse)
	// Stream returns the encoder of one stream of req.
	Stream(req *llm.ChatRequest) StreamEncoder
}

// StreamEncoder writes one stream's chunks in a Dialect's format. What its
// methods return is written to the client as it is (whole server-sent
// events) and must not be changed once returned. Its methods are called
// from one goroutine at a time.
type StreamEncoder interface {
	// Chunk returns the events for c, nil for none. An error ends the
	// stream as broken (Error is then written).
	Chunk(c *llm.Chunk) ([]byte, error)
	// End returns the events that end a complete stream.
	End() []byte
	// Error returns the event that ends a broken stream.
	Error(e *api.Error) []byte
}

// ServeChat serves req, a chat request in OpenAI's format (decoded with
// DecodeChat), in d's format.
func (h *Handler) ServeChat(w http.ResponseWriter, r *http.Request, p tenant.Principal, req *llm.ChatRequest, d Dialect) {
	h.serveChat(w, r, p, req, d)
}

// DecodeChat decodes and validates a chat completion request body, as the
// chat completions endpoint does.
func DecodeChat(body []byte) (*llm.ChatRequest, error) { return decodeChat(body) }

// Usable reports the names the principal may send as "model", sorted, as
// GET /v1/models lists them.
func (h *Handler) Usable(p tenant.Principal) []string {
	names, usable := h.usable(p)
	out := names[:0:0]
	for _, n := range h.listed(p, names) {
		if usable(n) {
			out = append(out, n)
		}
	}
	return out
}

// UsableModel reports whether the principal may send name as "model".
func (h *Handler) UsableModel(p tenant.Principal, name string) bool {
	_, usable := h.usable(p)
	return usable(name)
}

// Gateway returns the gateway the Handler serves through.
func (h *Handler) Gateway() *gateway.Gateway { return h.gw }
