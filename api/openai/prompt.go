package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/prompt"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Prompt references (OpenAI's prompt parameter of the Responses API,
// also accepted on Chat Completions):
//
//	"prompt": {"id": "triage", "version": "3", "variables": {"ticket": "…"}}
//
// version is a number, "latest" or a label; label names a label
// explicitly; neither means the production label, else the newest
// version. Variables are strings or input_text objects
// ({"type": "input_text", "text": "…"}).

// HeaderPrompt answers which prompt version served a request: "id@3".
const HeaderPrompt = "X-Bulwark-Prompt"

// Tags a request made with a prompt carries into its usage records, over
// its key's tags, so that usage can be grouped by them
// (group_by=tag:prompt).
const (
	TagPrompt        = "prompt"
	TagPromptVersion = "prompt_version"
)

// PromptResolver finds the version a prompt reference names for a
// tenant; *prompt.Cache is one.
type PromptResolver interface {
	Resolve(tenantID string, r prompt.Ref) (*prompt.Version, error)
}

// SetPrompts sets where prompt references resolve; nil (the default)
// refuses requests that carry one. It is meant to be called once, before
// serving.
func (h *Handler) SetPrompts(r PromptResolver) { h.prompts = r }

// promptWire is the prompt parameter.
type promptWire struct {
	ID        string                     `json:"id"`
	Version   json.RawMessage            `json:"version"`
	Label     string                     `json:"label"`
	Variables map[string]json.RawMessage `json:"variables"`
}

// RenderedPrompt is a prompt reference resolved and rendered: the
// version it names and its messages with the request's variables in
// place.
type RenderedPrompt struct {
	Version  *prompt.Version
	Messages []prompt.Message
}

// renderPrompt resolves the prompt parameter raw for p's tenant and
// renders it. Every client mistake is a 400 naming the field (a missing
// required or unknown variable names the variable), a prompt, version or
// label that does not exist a 404. The Responses API calls it too.
func (h *Handler) renderPrompt(p tenant.Principal, raw json.RawMessage) (*RenderedPrompt, error) {
	var w promptWire
	if err := api.Unmarshal(raw, &w, true); err != nil {
		e := api.AsError(err)
		if e.Param != "" {
			e.Param = "prompt." + e.Param
		} else {
			e.Param = "prompt"
		}
		return nil, e
	}
	if w.ID == "" {
		return nil, api.BadRequest("prompt.id", "prompt.id is required")
	}
	if err := prompt.CheckID(w.ID); err != nil {
		return nil, api.BadRequest("prompt.id", "%s", err.Error())
	}
	ref, err := promptRef(w)
	if err != nil {
		return nil, err
	}
	vars := make(map[string]string, len(w.Variables))
	for name, v := range w.Variables {
		s, err := variableValue(v)
		if err != nil {
			return nil, api.BadRequest("prompt.variables."+name, "prompt variable %q: %s", name, err.Error())
		}
		vars[name] = s
	}
	if h.prompts == nil {
		return nil, api.BadRequest("prompt", "this server has no prompt registry")
	}
	v, err := h.prompts.Resolve(p.TenantID, ref)
	if err != nil {
		if errors.Is(err, prompt.ErrNotFound) {
			return nil, &api.Error{Status: http.StatusNotFound, Type: api.TypeNotFound, Code: "prompt_not_found",
				Param: "prompt.id", Message: err.Error()}
		}
		return nil, err
	}
	msgs, err := v.Render(vars)
	if err != nil {
		var ve *prompt.VariableError
		if errors.As(err, &ve) {
			return nil, &api.Error{Status: http.StatusBadRequest, Type: api.TypeInvalidRequest, Code: "invalid_prompt_variables",
				Param: "prompt.variables." + ve.Name, Message: ve.Msg}
		}
		return nil, err
	}
	return &RenderedPrompt{Version: v, Messages: msgs}, nil
}

// promptRef reads the version or label of w.
func promptRef(w promptWire) (prompt.Ref, error) {
	ref := prompt.Ref{ID: w.ID}
	if v := bytes.TrimSpace(w.Version); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		if w.Label != "" {
			return ref, api.BadRequest("prompt.label", "give prompt.version or prompt.label, not both")
		}
		var s string
		if v[0] == '"' {
			if err := json.Unmarshal(v, &s); err != nil {
				return ref, api.BadRequest("prompt.version", "prompt.version must be a string or a number")
			}
		} else {
			var n int
			if err := json.Unmarshal(v, &n); err != nil {
				return ref, api.BadRequest("prompt.version", "prompt.version must be a string or a number")
			}
			s = strconv.Itoa(n)
		}
		r, err := prompt.ParseVersion(s)
		if err != nil {
			return ref, api.BadRequest("prompt.version", "%s", err.Error())
		}
		r.ID = w.ID
		return r, nil
	}
	if w.Label != "" {
		if w.Label != prompt.Latest {
			if err := prompt.CheckLabel(w.Label); err != nil {
				return ref, api.BadRequest("prompt.label", "%s", err.Error())
			}
		}
		ref.Label = w.Label
	}
	return ref, nil
}

// variableValue reads one variable: a string, or an input_text object.
func variableValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	if len(raw) > 0 && raw[0] == '{' {
		var part struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &part); err == nil && part.Type == "input_text" {
			return part.Text, nil
		} else if err == nil {
			return "", fmt.Errorf("only text values are supported, not %q", part.Type)
		}
	}
	return "", errors.New(`a value must be a string or {"type":"input_text","text":"…"}`)
}

// promptPrincipal is p with the prompt version's tags over its own, for
// the usage records of the request it serves. p's tags are shared with
// the key set, so they are copied.
func promptPrincipal(p tenant.Principal, v *prompt.Version) tenant.Principal {
	tags := make(map[string]string, len(p.Tags)+2)
	maps.Copy(tags, p.Tags)
	tags[TagPrompt] = v.PromptID
	tags[TagPromptVersion] = strconv.Itoa(v.Number)
	p.Tags = tags
	return p
}

// withPrompt returns a chat completion body with its prompt parameter
// applied, and the rendered prompt (nil when the body has none): the
// template's messages go before the client's, and each of the version's
// model parameters applies unless the body sets it. The prompt parameter
// itself is removed: upstreams do not know it.
func (h *Handler) withPrompt(body []byte, p tenant.Principal) ([]byte, *RenderedPrompt, error) {
	if !bytes.Contains(body, []byte(`"prompt"`)) {
		return body, nil, nil
	}
	var fields map[string]json.RawMessage
	if err := api.Unmarshal(body, &fields, false); err != nil {
		return nil, nil, err
	}
	raw, ok := fields["prompt"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return body, nil, nil
	}
	rp, err := h.renderPrompt(p, raw)
	if err != nil {
		return nil, nil, err
	}
	delete(fields, "prompt")
	out, err := applyPrompt(fields, rp)
	if err != nil {
		return nil, nil, err
	}
	return out, rp, nil
}

// withRendered returns a chat completion body (without a prompt
// parameter) with the rendered prompt rp applied as withPrompt applies
// one: for a caller that rendered it already.
func withRendered(body []byte, rp *RenderedPrompt) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := api.Unmarshal(body, &fields, false); err != nil {
		return nil, err
	}
	return applyPrompt(fields, rp)
}

// applyPrompt puts rp's messages before the body's fields' and sets each
// of its model parameters the fields leave unset, and encodes the body.
func applyPrompt(fields map[string]json.RawMessage, rp *RenderedPrompt) ([]byte, error) {
	var err error
	var client []json.RawMessage
	if m, ok := fields["messages"]; ok && !bytes.Equal(bytes.TrimSpace(m), []byte("null")) {
		if err := json.Unmarshal(m, &client); err != nil {
			return nil, api.BadRequest("messages", "messages must be an array of messages")
		}
	}
	msgs := make([]any, 0, len(rp.Messages)+len(client))
	for _, m := range rp.Messages {
		msgs = append(msgs, m)
	}
	for _, m := range client {
		msgs = append(msgs, m)
	}
	if fields["messages"], err = json.Marshal(msgs); err != nil {
		return nil, err
	}
	params := rp.Version.Params
	set := func(name string, v any) error {
		if cur, ok := fields[name]; ok && !bytes.Equal(bytes.TrimSpace(cur), []byte("null")) && !bytes.Equal(bytes.TrimSpace(cur), []byte(`""`)) {
			return nil // the client's own
		}
		b, err := json.Marshal(v)
		fields[name] = b
		return err
	}
	if params.Model != "" {
		err = errors.Join(err, set("model", params.Model))
	}
	if params.Temperature != nil {
		err = errors.Join(err, set("temperature", *params.Temperature))
	}
	if params.TopP != nil {
		err = errors.Join(err, set("top_p", *params.TopP))
	}
	if params.MaxTokens != nil {
		if _, ok := fields["max_completion_tokens"]; !ok {
			err = errors.Join(err, set("max_tokens", *params.MaxTokens))
		}
	}
	if len(params.ResponseFormat) > 0 {
		err = errors.Join(err, set("response_format", params.ResponseFormat))
	}
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return out, nil
}
