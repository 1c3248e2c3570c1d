package anthropic

import (
	"net/http"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/api/openai"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/tenant"
	"github.com/bulwark-ai/bulwark/tokens"
)

// Handler serves Anthropic's Messages API through an OpenAI Handler. It
// is safe for concurrent use.
type Handler struct {
	oai *openai.Handler
}

// New returns a Handler serving through oai: its gateway, timeouts and
// stream relay.
func New(oai *openai.Handler) *Handler { return &Handler{oai: oai} }

// Routes returns oai's routes with the Messages API's added, for
// api.Options.API. GET /v1/models (and /v1/models/{model}) answer in
// Anthropic's shape when the request carries anthropic-version, in
// OpenAI's otherwise.
func (h *Handler) Routes() map[string]api.AuthedHandler {
	routes := h.oai.Routes()
	routes["POST /v1/messages"] = h.messages
	routes["POST /v1/messages/count_tokens"] = h.countTokens
	for pattern, anth := range map[string]api.AuthedHandler{"GET /v1/models": h.models, "GET /v1/models/{model}": h.model} {
		oaiHandler := routes[pattern]
		routes[pattern] = func(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
			if r.Header.Get(api.HeaderAnthropicVersion) != "" || oaiHandler == nil {
				anth(w, r, p)
				return
			}
			oaiHandler(w, r, p)
		}
	}
	return routes
}

// messages serves POST /v1/messages.
func (h *Handler) messages(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	t, err := h.decode(r)
	if err != nil {
		api.WriteAnthropicError(w, err)
		return
	}
	req, err := openai.DecodeChat(t.body)
	if err != nil {
		api.WriteAnthropicError(w, err)
		return
	}
	d := &dialect{model: t.model, requestID: api.RequestID(w)}
	if req.Stream {
		d.prompt = h.count(p, t.model, req)
	}
	h.oai.ServeChat(w, r, p, req, d)
}

func (h *Handler) decode(r *http.Request) (*translated, error) {
	body, err := api.ReadBody(r)
	if err != nil {
		return nil, err
	}
	return decodeMessages(body, r.URL.Path == "/v1/messages/count_tokens")
}

// count returns the prompt's tokens as the gateway counts them: with the
// tokenizer of the first target of the alias, or the default estimate.
func (h *Handler) count(p tenant.Principal, model string, req *llm.ChatRequest) int {
	upstream := model
	if rt, ok := h.oai.Gateway().Routes().LookupFor(p.Alias(model), p.TenantID); ok && len(rt.Targets) > 0 {
		upstream = rt.Targets[0].Model
	}
	return tokens.For(upstream).Chat(req).Tokens
}

// countTokens serves POST /v1/messages/count_tokens: {"input_tokens":N}
// for a model the key may use.
func (h *Handler) countTokens(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	t, err := h.decode(r)
	if err != nil {
		api.WriteAnthropicError(w, err)
		return
	}
	req, err := openai.DecodeChat(t.body)
	if err != nil {
		api.WriteAnthropicError(w, err)
		return
	}
	if !h.oai.UsableModel(p, t.model) {
		api.WriteAnthropicError(w, modelError(t.model))
		return
	}
	api.Annotate(w, t.model, "")
	api.WriteJSON(w, http.StatusOK, map[string]int{"input_tokens": h.count(p, t.model, req)})
}

// modelOut is a model in Anthropic's shape.
type modelOut struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// created is the created_at of every model: Bulwark's aliases have no
// release date.
var created = time.Unix(0, 0).UTC().Format(time.RFC3339)

func (h *Handler) models(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	names := h.oai.Usable(p)
	list := struct {
		Data    []modelOut `json:"data"`
		HasMore bool       `json:"has_more"`
		FirstID *string    `json:"first_id"`
		LastID  *string    `json:"last_id"`
	}{Data: make([]modelOut, 0, len(names))}
	for _, n := range names {
		list.Data = append(list.Data, modelOut{Type: "model", ID: n, DisplayName: n, CreatedAt: created})
	}
	if len(names) > 0 {
		list.FirstID, list.LastID = &names[0], &names[len(names)-1]
	}
	api.WriteJSON(w, http.StatusOK, list)
}

func (h *Handler) model(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	name := r.PathValue("model")
	if !h.oai.UsableModel(p, name) {
		api.WriteAnthropicError(w, modelError(name))
		return
	}
	api.WriteJSON(w, http.StatusOK, modelOut{Type: "model", ID: name, DisplayName: name, CreatedAt: created})
}

// modelError is the 404 of a model the key may not use; GET /v1/models
// lists those it may.
func modelError(name string) error {
	return &gateway.ModelError{Model: name}
}
