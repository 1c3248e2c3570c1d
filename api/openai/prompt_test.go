package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/prompt"
	"github.com/bulwark-ai/bulwark/tenant"
)

// fixedPrompts resolves from a fixed set of versions of tenant acme's
// prompt triage: 1 and 2, with production at 1.
type fixedPrompts map[int]*prompt.Version

func (f fixedPrompts) Resolve(tenantID string, r prompt.Ref) (*prompt.Version, error) {
	if tenantID != "acme" || r.ID != "triage" {
		return nil, &prompt.NotFoundError{Msg: "prompt " + r.ID + " not found"}
	}
	n := r.Version
	switch r.Label {
	case "", "production":
		if n == 0 {
			n = 1
		}
	case prompt.Latest:
		n = 2
	default:
		return nil, &prompt.NotFoundError{Msg: "no label " + r.Label}
	}
	if v, ok := f[n]; ok {
		return v, nil
	}
	return nil, &prompt.NotFoundError{Msg: "no version"}
}

func testPrompts() fixedPrompts {
	temp, maxTok := 0.2, 50
	v := func(n int, system string) *prompt.Version {
		return &prompt.Version{TenantID: "acme", PromptID: "triage", Number: n, Template: prompt.Template{
			Messages: []prompt.Message{
				{Role: "system", Content: system + " Reply in {{language}}."},
				{Role: "user", Content: "Ticket: {{ticket}}"},
			},
			Variables: []prompt.Variable{{Name: "ticket", Required: true}, {Name: "language", Default: "English"}},
			Params: prompt.Params{Model: "chat", Temperature: &temp, MaxTokens: &maxTok,
				ResponseFormat: json.RawMessage(`{"type":"json_object"}`)},
		}}
	}
	return fixedPrompts{1: v(1, "You triage tickets."), 2: v(2, "You triage tickets, tersely.")}
}

var acme = tenant.Principal{TenantID: "acme", KeyID: "key_1", Tags: map[string]string{"team": "support"}}

func TestWithPromptRendersAndAppliesParameters(t *testing.T) {
	h := &Handler{prompts: testPrompts()}
	body := `{"prompt":{"id":"triage","variables":{"ticket":"My {{language}} printer is on fire","language":{"type":"input_text","text":"French"}}},
		"messages":[{"role":"user","content":"Please hurry."}],"temperature":1.5,"user":"u1"}`
	out, rp, err := h.withPrompt([]byte(body), acme)
	if err != nil {
		t.Fatal(err)
	}
	if rp == nil || rp.Version.Number != 1 {
		t.Fatalf("rendered %+v; want version 1 (production)", rp)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"model": "chat",
		"messages": []any{
			map[string]any{"role": "system", "content": "You triage tickets. Reply in French."},
			// A placeholder inside a value stays as written.
			map[string]any{"role": "user", "content": "Ticket: My {{language}} printer is on fire"},
			map[string]any{"role": "user", "content": "Please hurry."},
		},
		"temperature":     1.5, // the client's own wins
		"max_tokens":      50.0,
		"response_format": map[string]any{"type": "json_object"},
		"user":            "u1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body =\n%v\nwant\n%v", got, want)
	}
	req, err := decodeChat(out)
	if err != nil || req.Model != "chat" || len(req.Messages) != 3 || req.MaxTokens != 50 {
		t.Errorf("decodeChat(rendered) = %+v, %v", req, err)
	}

	// The usage tags: the prompt's over the key's, the key set's map untouched.
	p := promptPrincipal(acme, rp.Version)
	if p.Tags["prompt"] != "triage" || p.Tags["prompt_version"] != "1" || p.Tags["team"] != "support" {
		t.Errorf("tags = %v", p.Tags)
	}
	if len(acme.Tags) != 1 {
		t.Errorf("the key's tags changed: %v", acme.Tags)
	}
}

func TestWithPromptVersionsAndLabels(t *testing.T) {
	h := &Handler{prompts: testPrompts()}
	for _, tc := range []struct {
		ref  string
		want int
	}{
		{`"version":"2"`, 2},
		{`"version":2`, 2},
		{`"version":"latest"`, 2},
		{`"version":"production"`, 1},
		{`"label":"production"`, 1},
		{`"label":"latest"`, 2},
	} {
		body := `{"prompt":{"id":"triage",` + tc.ref + `,"variables":{"ticket":"t"}}}`
		_, rp, err := h.withPrompt([]byte(body), acme)
		if err != nil || rp.Version.Number != tc.want {
			t.Errorf("%s: %v, %v; want version %d", tc.ref, rp, err, tc.want)
		}
	}
	// Without a prompt parameter the body is left as it is.
	body := []byte(`{"model":"chat","messages":[{"role":"user","content":"say \"prompt\""}]}`)
	if out, rp, err := h.withPrompt(body, acme); err != nil || rp != nil || string(out) != string(body) {
		t.Errorf("body without prompt: %s, %v, %v", out, rp, err)
	}
}

func TestWithPromptRefusals(t *testing.T) {
	h := &Handler{prompts: testPrompts()}
	for _, tc := range []struct {
		name, body string
		status     int
		param      string
	}{
		{"missing required", `{"prompt":{"id":"triage"}}`, 400, "prompt.variables.ticket"},
		{"unknown variable", `{"prompt":{"id":"triage","variables":{"ticket":"t","tone":"dry"}}}`, 400, "prompt.variables.tone"},
		{"non-text value", `{"prompt":{"id":"triage","variables":{"ticket":{"type":"input_image","image_url":"x"}}}}`, 400, "prompt.variables.ticket"},
		{"number value", `{"prompt":{"id":"triage","variables":{"ticket":5}}}`, 400, "prompt.variables.ticket"},
		{"no id", `{"prompt":{"variables":{}}}`, 400, "prompt.id"},
		{"unknown field", `{"prompt":{"id":"triage","vars":{}}}`, 400, "prompt"},
		{"version and label", `{"prompt":{"id":"triage","version":"1","label":"production"}}`, 400, "prompt.label"},
		{"bad version", `{"prompt":{"id":"triage","version":"0"}}`, 400, "prompt.version"},
		{"unknown prompt", `{"prompt":{"id":"nope"}}`, 404, "prompt.id"},
		{"unknown label", `{"prompt":{"id":"triage","label":"staging","variables":{"ticket":"t"}}}`, 404, "prompt.id"},
		{"missing version", `{"prompt":{"id":"triage","version":7,"variables":{"ticket":"t"}}}`, 404, "prompt.id"},
	} {
		_, _, err := h.withPrompt([]byte(tc.body), acme)
		e := api.AsError(err)
		if err == nil || e.Status != tc.status || e.Param != tc.param {
			t.Errorf("%s: %v (status %d, param %q); want %d naming %q", tc.name, err, e.Status, e.Param, tc.status, tc.param)
		}
	}
	// Another tenant's key does not see acme's prompt.
	_, _, err := h.withPrompt([]byte(`{"prompt":{"id":"triage","variables":{"ticket":"t"}}}`), tenant.Principal{TenantID: "other"})
	if api.AsError(err).Status != http.StatusNotFound {
		t.Errorf("other tenant: %v; want 404", err)
	}
	// A server without a registry refuses the parameter.
	if _, _, err := (&Handler{}).withPrompt([]byte(`{"prompt":{"id":"triage"}}`), acme); api.AsError(err).Status != 400 {
		t.Errorf("no registry: %v; want 400", err)
	}
}

// Whatever a client sends as the prompt parameter, withPrompt answers a
// body or an API error, never a panic or another error.
func FuzzWithPrompt(f *testing.F) {
	f.Add(`{"prompt":{"id":"triage","variables":{"ticket":"t"}},"messages":[{"role":"user","content":"x"}]}`)
	f.Add(`{"prompt":{"id":"triage","version":2,"variables":{"ticket":{"type":"input_text","text":"t"}}}}`)
	f.Add(`{"prompt":null,"model":"x"}`)
	f.Add(`{"prompt":{"id":"triage","label":"latest"},"messages":null}`)
	h := &Handler{prompts: testPrompts()}
	f.Fuzz(func(t *testing.T, body string) {
		out, rp, err := h.withPrompt([]byte(body), acme)
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("withPrompt(%q) = %T %v; want an *api.Error", body, err, err)
			}
			return
		}
		if rp != nil && !json.Valid(out) {
			t.Fatalf("withPrompt(%q) = invalid JSON %q", body, out)
		}
	})
}
