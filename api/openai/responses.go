package openai

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/job"
	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/responses"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Responses serves OpenAI's Responses API: POST /v1/responses (plain and
// streamed with its typed events), GET and DELETE /v1/responses/{id} and
// GET /v1/responses/{id}/input_items.
//
// A Responses request is translated to a chat completion request and
// served through the Handler's own chat path (serveChat with a Dialect):
// the same authentication, limits, budgets, admission, retries, failover,
// usage records and stream relay as a chat completion, on any provider.
// The answer is translated back into a Response with its output items;
// with store (the default) the conversation up to it is kept, per tenant,
// for previous_response_id and GET, until the retention passes. The
// file_search tool runs retrieval over the tenant's vector stores inside
// Bulwark before the model is called (responses_search.go).
//
// It is safe for concurrent use.
type Responses struct {
	h         *Handler
	store     responses.Store
	kb        *rag.Service // nil: the knowledge bases are off
	retention time.Duration
	log       *slog.Logger
	now       func() time.Time
	jobs      *job.Service // background responses; nil: off (background.go)
}

// NewResponses returns the Responses API served through h, keeping
// responses in store for retention (zero: responses.DefaultRetention).
// kb, nil when the knowledge bases are off, serves the file_search tool.
func NewResponses(h *Handler, store responses.Store, kb *rag.Service, retention time.Duration) *Responses {
	if retention <= 0 {
		retention = responses.DefaultRetention
	}
	return &Responses{h: h, store: store, kb: kb, retention: retention, log: h.log, now: time.Now}
}

// Routes returns the Responses API's routes, for api.Options.API.
func (rs *Responses) Routes() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{
		"POST /v1/responses":                 rs.create,
		"GET /v1/responses/{id}":             rs.get,
		"DELETE /v1/responses/{id}":          rs.delete,
		"GET /v1/responses/{id}/input_items": rs.inputItems,
		"POST /v1/responses/{id}/cancel":     rs.cancel,
	}
}

// storeTimeout bounds one read or write of the response store.
const storeTimeout = 5 * time.Second

func (rs *Responses) create(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	body, err := api.ReadBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	rr, err := decodeResponses(body)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if rr.background {
		rs.enqueue(w, r, p, body, rr) // background.go
		return
	}
	rs.serve(w, r, p, rr, newID("resp_"))
}

// serve answers the Responses request rr as the response id.
func (rs *Responses) serve(w http.ResponseWriter, r *http.Request, p tenant.Principal, rr *responsesRequest, id string) {
	var err error
	var rp *RenderedPrompt
	if rr.prompt != nil {
		// Rendered once, here: the prompt's model serves a request that
		// names none, and its messages and parameters apply below.
		if rp, err = rs.h.renderPrompt(p, rr.prompt); err != nil {
			api.WriteError(w, err)
			return
		}
		if rr.model == "" {
			if rr.model = rp.Version.Params.Model; rr.model == "" {
				api.WriteError(w, api.BadRequest("model", "you must provide a model parameter: prompt %s names none", rp.Version.PromptID))
				return
			}
		}
		p = promptPrincipal(p, rp.Version)
		w.Header().Set(HeaderPrompt, fmt.Sprintf("%s@%d", rp.Version.PromptID, rp.Version.Number))
	}
	t := &turn{rs: rs, tenantID: p.TenantID, req: rr, id: id, created: rs.now()}
	if rr.previousID != "" {
		prev, err := rs.previous(r.Context(), p.TenantID, rr.previousID)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		t.history = prev
	}
	t.history = append(t.history, rr.input...)
	if len(t.history) == 0 {
		api.WriteError(w, api.BadRequest("input", "input must hold at least one item"))
		return
	}
	system := ""
	if rr.instructions != nil {
		system = *rr.instructions
	}
	if rr.fileSearch != nil {
		// The search embeds the query at the tenant's cost: not for a
		// model the key may not use, which the gateway would refuse.
		if !rs.h.UsableModel(p, rr.model) {
			api.WriteError(w, &gateway.ModelError{Model: rr.model})
			return
		}
		if err := t.search(r.Context(), rs.kb); err != nil {
			api.WriteError(w, err)
			return
		}
		system = joinSystem(system, t.found.context())
	}
	cb := rr.chatBody(t.history, system)
	if rp != nil {
		// The prompt's messages go first, its parameters fill what the
		// request left unset, as on Chat Completions (prompt.go).
		if cb, err = withRendered(cb, rp); err != nil {
			api.WriteError(w, err)
			return
		}
	}
	req, err := decodeChat(cb)
	if err != nil {
		// The body is Bulwark's own: a failure is a client value the chat
		// decoder refuses, named as the client sent it where it can be.
		api.WriteError(w, responsesError(err))
		return
	}
	t.requestID = api.RequestID(w)
	rs.h.serveChat(w, r, p, req, t)
}

// previous returns the conversation of the tenant's stored response id:
// its input items and its output items.
func (rs *Responses) previous(ctx context.Context, tenantID, id string) ([]item, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	st, err := rs.store.Response(ctx, tenantID, id, rs.now())
	if errors.Is(err, responses.ErrNotFound) {
		e := api.Errorf(http.StatusNotFound, api.TypeInvalidRequest, "previous_response_not_found",
			"Previous response with id '%s' not found.", id)
		e.Param = "previous_response_id"
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	var in, out []json.RawMessage
	if err := json.Unmarshal(st.Input, &in); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(st.Output, &out); err != nil {
		return nil, err
	}
	items, err := decodeItems("input", append(in, out...), true)
	if err != nil {
		return nil, err
	}
	return items, nil
}

// stored reads the tenant's response named in the path.
func (rs *Responses) stored(r *http.Request, p tenant.Principal) (*responses.Stored, error) {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	id := r.PathValue("id")
	st, err := rs.store.Response(ctx, p.TenantID, id, rs.now())
	if errors.Is(err, responses.ErrNotFound) {
		return nil, notFound(id)
	}
	return st, err
}

func notFound(id string) error {
	return api.Errorf(http.StatusNotFound, api.TypeInvalidRequest, "not_found", "Response with id '%s' not found.", id)
}

func (rs *Responses) get(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if r.URL.Query().Get("stream") == "true" {
		api.WriteError(w, api.BadRequest("stream", "streaming a stored response again is not supported by Bulwark"))
		return
	}
	if rs.getBackground(w, r, p) { // background.go
		return
	}
	st, err := rs.stored(r, p)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(st.Response)
}

type responseDeletedWire struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

func (rs *Responses) delete(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if rs.deleteBackground(w, r, p) { // background.go
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	id := r.PathValue("id")
	err := rs.store.DeleteResponse(ctx, p.TenantID, id)
	if errors.Is(err, responses.ErrNotFound) {
		err = notFound(id)
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, responseDeletedWire{ID: id, Object: "response", Deleted: true})
}

// inputItems serves GET /v1/responses/{id}/input_items: the items the
// response answered, previous turns included, newest first unless
// order=asc, all on one page.
func (rs *Responses) inputItems(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	st, err := rs.stored(r, p)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	var in []map[string]any
	if err := json.Unmarshal(st.Input, &in); err != nil {
		api.WriteError(w, err)
		return
	}
	for i, it := range in {
		// Stored items have no ids; the listing gives each a stable one.
		it["id"] = st.ID + "_in_" + strconv.Itoa(i)
	}
	switch r.URL.Query().Get("order") {
	case "", "desc":
		for i, j := 0, len(in)-1; i < j; i, j = i+1, j-1 {
			in[i], in[j] = in[j], in[i]
		}
	case "asc":
	default:
		api.WriteError(w, api.BadRequest("order", "order must be asc or desc"))
		return
	}
	page := struct {
		Object  string           `json:"object"`
		Data    []map[string]any `json:"data"`
		FirstID *string          `json:"first_id"`
		LastID  *string          `json:"last_id"`
		HasMore bool             `json:"has_more"`
	}{Object: "list", Data: in}
	if page.Data == nil {
		page.Data = []map[string]any{}
	}
	if n := len(in); n > 0 {
		first, last := in[0]["id"].(string), in[n-1]["id"].(string)
		page.FirstID, page.LastID = &first, &last
	}
	api.WriteJSON(w, http.StatusOK, page)
}

// cancel answers POST /v1/responses/{id}/cancel: only background
// responses can be cancelled (background.go).
func (rs *Responses) cancel(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if rs.cancelBackground(w, r, p) { // background.go
		return
	}
	if _, err := rs.stored(r, p); err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteError(w, api.BadRequest("", "only background responses can be cancelled"))
}

// newID returns prefix followed by 48 random hex digits, as OpenAI's ids.
func newID(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// joinSystem joins the parts of the system message that are not empty.
func joinSystem(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n\n" + b
}

// turn is one Responses request being answered: the Dialect its chat
// answer is written with. It is used by one goroutine at a time.
type turn struct {
	rs        *Responses
	tenantID  string
	req       *responsesRequest
	id        string
	created   time.Time
	requestID string
	// history is the conversation before the answer: the previous
	// response's input and output, then this request's input.
	history []item
	// found is what file_search retrieved; nil without the tool.
	found *retrieval
}

var _ Dialect = (*turn)(nil)

func (t *turn) WriteError(w http.ResponseWriter, err error) { api.WriteError(w, responsesError(err)) }

// responsesError returns err as the Responses API states it: a parameter
// of the chat request it was translated to (a prompt too long for the
// model's context names messages) is named as the client sent it.
func responsesError(err error) *api.Error {
	e := api.AsError(err)
	param := e.Param
	switch {
	case param == "messages" || strings.HasPrefix(param, "messages["):
		param = "input"
	case param == "max_completion_tokens":
		param = "max_output_tokens"
	default:
		return e
	}
	c := *e
	c.Param = param
	return &c
}

// completionWire is the part of an OpenAI chat completion this file reads;
// usage and finish reasons are read from llm.ChatResponse.
type completionWire struct {
	Choices []struct {
		Message struct {
			Content   *string `json:"content"`
			Refusal   *string `json:"refusal"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

func (t *turn) WriteCompletion(w http.ResponseWriter, resp *llm.ChatResponse) {
	var c completionWire
	if err := json.Unmarshal(resp.Body, &c); err != nil || len(c.Choices) == 0 {
		api.WriteError(w, &llm.Error{Kind: llm.KindServer, Model: resp.Model, Message: "the upstream's answer is not a chat completion"})
		return
	}
	ch := c.Choices[0]
	var output []any
	if t.found != nil {
		output = append(output, t.found.call(t.req.includeResults))
	}
	text := ""
	if ch.Message.Content != nil {
		text = *ch.Message.Content
	}
	if text == "" && ch.Message.Refusal != nil {
		text = *ch.Message.Refusal
	}
	if text != "" || len(ch.Message.ToolCalls) == 0 {
		output = append(output, t.message(newID("msg_"), text, "completed"))
	}
	for _, tc := range ch.Message.ToolCalls {
		output = append(output, functionCallOut{Type: "function_call", ID: newID("fc_"), CallID: callID(tc.ID),
			Name: tc.Function.Name, Arguments: tc.Function.Arguments, Status: "completed"})
	}
	finish := ch.FinishReason
	if len(resp.FinishReasons) > 0 && resp.FinishReasons[0] != "" {
		finish = resp.FinishReasons[0]
	}
	u := resp.Usage
	obj := t.response(output, finish, &u)
	b, err := json.Marshal(obj)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	t.save(output, b)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// callID is a tool call's call_id: the upstream's id, or a new one when
// it gave none.
func callID(id string) string {
	if id == "" {
		return newID("call_")
	}
	return id
}

// message returns an assistant message output item with text, cited when
// file_search found sources.
func (t *turn) message(id, text, status string) messageOut {
	return messageOut{Type: "message", ID: id, Status: status, Role: "assistant",
		Content: []outputText{{Type: "output_text", Text: text, Annotations: t.annotations(text), Logprobs: []any{}}}}
}

func (t *turn) annotations(text string) []annotation {
	if t.found == nil {
		return []annotation{}
	}
	return t.found.cite(text)
}

// save stores the answer when the request asked for it (store, the
// default). A store that fails loses the stored copy, not the answer:
// the client has it, and a later previous_response_id to it is a 404.
func (t *turn) save(output []any, response []byte) {
	if !t.req.store {
		return
	}
	in, err := json.Marshal(t.history)
	if err == nil {
		var out []byte
		if out, err = json.Marshal(output); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			defer cancel()
			err = t.rs.store.SaveResponse(ctx, &responses.Stored{ID: t.id, TenantID: t.tenantID, Model: t.req.model,
				CreatedAt: t.created, ExpiresAt: t.created.Add(t.rs.retention), Input: in, Output: out, Response: response})
		}
	}
	if err != nil {
		t.rs.log.Warn("response not stored", "request_id", t.requestID, "response_id", t.id, "error", err)
	}
}

// responseObject is a Response as the API answers it.
type responseObject struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Background         bool              `json:"background"`
	Error              *responseError    `json:"error"`
	IncompleteDetails  *incomplete       `json:"incomplete_details"`
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Model              string            `json:"model"`
	Output             []any             `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          reasoningOut      `json:"reasoning"`
	Store              bool              `json:"store"`
	Temperature        *float64          `json:"temperature"`
	Text               textOut           `json:"text"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Tools              []json.RawMessage `json:"tools"`
	TopP               *float64          `json:"top_p"`
	Truncation         string            `json:"truncation"`
	Usage              *usageOut         `json:"usage"`
	User               *string           `json:"user"`
	Metadata           map[string]string `json:"metadata"`
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incomplete struct {
	Reason string `json:"reason"`
}

type reasoningOut struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type textOut struct {
	Format    json.RawMessage `json:"format"`
	Verbosity *string         `json:"verbosity,omitempty"`
}

type usageOut struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// messageOut is a message output item.
type messageOut struct {
	Type    string       `json:"type"`
	ID      string       `json:"id"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []outputText `json:"content"`
}

type outputText struct {
	Type        string       `json:"type"`
	Text        string       `json:"text"`
	Annotations []annotation `json:"annotations"`
	Logprobs    []any        `json:"logprobs"`
}

// annotation is a file_citation: index is where in the text (in
// characters) the source is cited. Page and Section, Bulwark's, say
// where in the file the cited chunk is.
type annotation struct {
	Type     string `json:"type"`
	Index    int    `json:"index"`
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
	Page     int    `json:"page,omitempty"`
	Section  string `json:"section,omitempty"`
}

// functionCallOut is a function_call output item.
type functionCallOut struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Status    string `json:"status"`
}

// response returns the Response for output, finished for finish (a chat
// finish_reason; "" while in progress) with usage u (nil while in
// progress).
func (t *turn) response(output []any, finish string, u *llm.Usage) *responseObject {
	r := t.req
	o := &responseObject{
		ID: t.id, Object: "response", CreatedAt: t.created.Unix(), Status: "completed", Background: r.background,
		Instructions: r.instructions, MaxOutputTokens: r.maxOutput, Model: r.model, Output: output,
		ParallelToolCalls: r.parallel == nil || *r.parallel, Reasoning: reasoningOut{},
		Store: r.store, Temperature: r.temperature, ToolChoice: r.toolChoice, Tools: r.tools,
		TopP: r.topP, Truncation: "disabled", Metadata: r.metadata,
		Text: textOut{Format: r.format},
	}
	if o.Output == nil {
		o.Output = []any{}
	}
	if o.Tools == nil {
		o.Tools = []json.RawMessage{}
	}
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	if o.Text.Format == nil {
		o.Text.Format = json.RawMessage(`{"type":"text"}`)
	}
	if r.verbosity != "" {
		o.Text.Verbosity = &r.verbosity
	}
	if r.reasoningEffort != "" {
		o.Reasoning.Effort = &r.reasoningEffort
	}
	if r.previousID != "" {
		o.PreviousResponseID = &r.previousID
	}
	if r.user != "" {
		o.User = &r.user
	}
	switch finish {
	case "":
		o.Status = "in_progress"
	case "length":
		o.Status, o.IncompleteDetails = "incomplete", &incomplete{Reason: "max_output_tokens"}
	case "content_filter":
		o.Status, o.IncompleteDetails = "incomplete", &incomplete{Reason: "content_filter"}
	}
	if u != nil {
		uo := &usageOut{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
		uo.InputTokensDetails.CachedTokens = u.CachedTokens
		if uo.TotalTokens == 0 {
			uo.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
		o.Usage = uo
	}
	return o
}
