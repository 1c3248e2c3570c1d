package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strings"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// The wire form of a GenerateContentRequest, as much of it as Bulwark
// sends.
type (
	genRequest struct {
		Contents          []content         `json:"contents"`
		SystemInstruction *content          `json:"systemInstruction,omitempty"`
		Tools             []tool            `json:"tools,omitempty"`
		ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
		GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
	}
	content struct {
		Role  string `json:"role,omitempty"`
		Parts []part `json:"parts"`
	}
	part struct {
		Text             string            `json:"text,omitempty"`
		Thought          bool              `json:"thought,omitempty"`
		ThoughtSignature string            `json:"thoughtSignature,omitempty"`
		InlineData       *blob             `json:"inlineData,omitempty"`
		FileData         *fileData         `json:"fileData,omitempty"`
		FunctionCall     *functionCall     `json:"functionCall,omitempty"`
		FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
	}
	blob struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"` // base64
	}
	fileData struct {
		MimeType string `json:"mimeType,omitempty"`
		FileURI  string `json:"fileUri"`
	}
	functionCall struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args,omitempty"`
	}
	functionResponse struct {
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	}
	tool struct {
		FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
	}
	functionDeclaration struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		// ParametersJSONSchema takes OpenAI's JSON Schema as it is;
		// Gemini's "parameters" is an OpenAPI subset that rejects common
		// JSON Schema keywords (additionalProperties, $defs, …).
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
	}
	toolConfig struct {
		FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
	}
	functionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	}
	generationConfig struct {
		Temperature        *float64        `json:"temperature,omitempty"`
		TopP               *float64        `json:"topP,omitempty"`
		PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
		FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
		MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
		StopSequences      []string        `json:"stopSequences,omitempty"`
		Seed               *int32          `json:"seed,omitempty"`
		CandidateCount     int             `json:"candidateCount,omitempty"`
		ResponseMimeType   string          `json:"responseMimeType,omitempty"`
		ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	}
)

// skipSignature is the thought signature Google documents for function
// calls whose real signature is not at hand (history from another model, or
// a client that cannot carry it, as OpenAI's format cannot): Gemini 3
// models reject a step's function call without one.
const skipSignature = "skip_thought_signature_validator"

// chatBody translates a chat request into a GenerateContentRequest body.
// Every error is an *llm.Error naming the client and the model.
func (c *Client) chatBody(req *llm.ChatRequest) ([]byte, error) {
	r, err := oai.ParseRequest(req)
	if err != nil {
		return nil, c.own(err, req.Model)
	}
	g, err := translate(r, c.name)
	if err != nil {
		return nil, c.own(err, req.Model)
	}
	b, err := json.Marshal(g)
	if err != nil { // a schema or arguments that are not JSON after all
		return nil, c.errorf(llm.KindBadRequest, req.Model, err, "encode request: %v", err)
	}
	return b, nil
}

// translate maps an OpenAI chat request to Gemini's. What Gemini cannot
// honour is an oai.Unsupported error rather than silently dropped.
func translate(r *oai.Request, provider string) (*genRequest, error) {
	unsupported := func(feature string) error { return oai.Unsupported(provider, r.Model, feature) }
	switch {
	case r.Continue:
		return nil, unsupported("continuing an answer from a prefix")
	case r.N > 1:
		return nil, unsupported(fmt.Sprintf("n = %d (several choices in one answer)", r.N))
	case r.Logprobs || r.TopLogprobs > 0:
		return nil, unsupported("logprobs")
	}
	g := &genRequest{Contents: []content{}}
	// names maps tool call ids to their function's name: Gemini names a
	// function's result by the function, OpenAI by the call.
	names := make(map[string]string)
	for i, m := range r.Messages {
		switch m.Role {
		case "system", "developer":
			if g.SystemInstruction == nil {
				g.SystemInstruction = &content{}
			}
			for _, p := range m.Parts {
				if p.Type != oai.PartText {
					return nil, unsupported(fmt.Sprintf("%s parts in a system message", p.Type))
				}
				if p.Text != "" {
					g.SystemInstruction.Parts = append(g.SystemInstruction.Parts, part{Text: p.Text})
				}
			}
		case "user":
			parts, err := userParts(m.Parts, unsupported)
			if err != nil {
				return nil, err
			}
			g.add("user", parts)
		case "assistant":
			var parts []part
			if t := m.Text(); t != "" {
				parts = append(parts, part{Text: t})
			}
			for _, tc := range m.ToolCalls {
				args, err := callArgs(tc.Arguments)
				if err != nil {
					return nil, badRequest(r.Model, "messages[%d]: tool call %q: arguments are not a JSON object", i, tc.Name)
				}
				if tc.ID != "" {
					names[tc.ID] = tc.Name
				}
				p := part{FunctionCall: &functionCall{Name: tc.Name, Args: args}}
				if len(parts) == 0 || parts[len(parts)-1].FunctionCall == nil {
					// The first call of a step carries the signature.
					p.ThoughtSignature = skipSignature
				}
				parts = append(parts, p)
			}
			g.add("model", parts)
		case "tool":
			name := names[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			if name == "" {
				return nil, badRequest(r.Model, "messages[%d]: tool result for call %q, which no assistant message made", i, m.ToolCallID)
			}
			g.add("user", []part{{FunctionResponse: &functionResponse{Name: name, Response: toolResponse(m.Text())}}})
		default:
			return nil, badRequest(r.Model, "messages[%d]: unknown role %q", i, m.Role)
		}
	}
	if g.SystemInstruction != nil && len(g.SystemInstruction.Parts) == 0 {
		g.SystemInstruction = nil
	}
	if len(r.Tools) > 0 {
		decls := make([]functionDeclaration, len(r.Tools))
		for i, t := range r.Tools {
			decls[i] = functionDeclaration{Name: t.Name, Description: t.Description, ParametersJSONSchema: jsonValue(t.Parameters)}
		}
		g.Tools = []tool{{FunctionDeclarations: decls}}
	}
	if tc := r.ToolChoice; tc != nil {
		fc := functionCallingConfig{}
		switch tc.Mode {
		case oai.ToolAuto:
			fc.Mode = "AUTO"
		case oai.ToolNone:
			fc.Mode = "NONE"
		case oai.ToolRequired:
			fc.Mode = "ANY"
		case oai.ToolFunction:
			fc.Mode, fc.AllowedFunctionNames = "ANY", []string{tc.Name}
		default:
			return nil, unsupported(fmt.Sprintf("tool_choice %q", tc.Mode))
		}
		g.ToolConfig = &toolConfig{FunctionCallingConfig: fc}
	}
	gc, err := genConfig(r, unsupported)
	if err != nil {
		return nil, err
	}
	g.GenerationConfig = gc
	return g, nil
}

// add appends parts as a turn of role, joining them to the previous turn
// when it has the same role (Gemini wants the results of one turn's calls
// together, and alternating turns in general).
func (g *genRequest) add(role string, parts []part) {
	if len(parts) == 0 {
		return
	}
	if n := len(g.Contents); n > 0 && g.Contents[n-1].Role == role {
		g.Contents[n-1].Parts = append(g.Contents[n-1].Parts, parts...)
		return
	}
	g.Contents = append(g.Contents, content{Role: role, Parts: parts})
}

// userParts translates a user message's parts: text, and images as inline
// data (a data: URL) or as a file reference (an http(s) URL).
func userParts(ps []oai.Part, unsupported func(string) error) ([]part, error) {
	var out []part
	for _, p := range ps {
		switch p.Type {
		case oai.PartText:
			if p.Text != "" {
				out = append(out, part{Text: p.Text})
			}
		case oai.PartImage:
			if mt, data, ok := p.Image(); ok {
				out = append(out, part{InlineData: &blob{MimeType: mt, Data: base64.StdEncoding.EncodeToString(data)}})
				continue
			}
			u, err := url.Parse(p.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				return nil, unsupported("an image URL that is neither a base64 data: URL nor an http(s) URL")
			}
			out = append(out, part{FileData: &fileData{MimeType: mime.TypeByExtension(path.Ext(u.Path)), FileURI: p.URL}})
		default:
			return nil, unsupported(p.Type + " parts")
		}
	}
	return out, nil
}

// callArgs is a tool call's arguments as Gemini's args object: OpenAI's
// JSON text, which must be an object ("" is an empty one).
func callArgs(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return json.RawMessage(s), nil
}

// toolResponse is a tool's result as Gemini's response object: the content
// itself when it is a JSON object, else {"content": text}.
func toolResponse(text string) json.RawMessage {
	t := bytes.TrimSpace([]byte(text))
	if len(t) > 0 && t[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(t, &obj) == nil {
			return json.RawMessage(t)
		}
	}
	b, _ := json.Marshal(map[string]string{"content": text}) // a string always marshals
	return b
}

// jsonValue returns raw if it is a JSON value other than null, else nil.
func jsonValue(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || !json.Valid(raw) {
		return nil
	}
	return raw
}

// genConfig translates the sampling and output settings; nil when none
// was set.
func genConfig(r *oai.Request, unsupported func(string) error) (*generationConfig, error) {
	gc := &generationConfig{
		Temperature: r.Temperature, TopP: r.TopP, MaxOutputTokens: r.MaxTokens, StopSequences: r.Stop,
	}
	// Penalties of zero are the default; sending them would fail on models
	// that accept none.
	if p := r.PresencePenalty; p != nil && *p != 0 {
		gc.PresencePenalty = p
	}
	if p := r.FrequencyPenalty; p != nil && *p != 0 {
		gc.FrequencyPenalty = p
	}
	if s := r.Seed; s != nil {
		if *s < math.MinInt32 || *s > math.MaxInt32 {
			return nil, unsupported("a seed beyond 32 bits")
		}
		v := int32(*s)
		gc.Seed = &v
	}
	if r.N == 1 {
		gc.CandidateCount = 1
	}
	if f := r.ResponseFormat; f != nil {
		switch f.Type {
		case "", oai.FormatText:
		case oai.FormatJSONObject:
			gc.ResponseMimeType = "application/json"
		case oai.FormatJSONSchema:
			gc.ResponseMimeType, gc.ResponseJSONSchema = "application/json", jsonValue(f.Schema)
			if gc.ResponseJSONSchema == nil {
				return nil, unsupported("a json_schema response format without a valid schema")
			}
		default:
			return nil, unsupported(fmt.Sprintf("response_format %q", f.Type))
		}
	}
	if reflect.ValueOf(gc).Elem().IsZero() {
		return nil, nil
	}
	return gc, nil
}

func badRequest(model, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Model: model, Message: fmt.Sprintf(format, args...)}
}
