package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithydocument "github.com/aws/smithy-go/document"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// translate maps an OpenAI chat request to Converse's input. provider
// names the target in refusals; defaultMax is the maxTokens sent when the
// request sets none (0: none).
//
// Bedrock wants a conversation of alternating user and assistant messages,
// so consecutive messages of one role (a user message after tool results,
// several tool results) are merged into one message of blocks. Empty text
// is not sent (Bedrock refuses blank text blocks).
func translate(r *oai.Request, provider string, defaultMax int) (*bedrockruntime.ConverseInput, error) {
	unsupported := func(feature string) error { return oai.Unsupported(provider, r.Model, feature) }
	switch {
	case r.N > 1:
		return nil, unsupported(fmt.Sprintf("n=%d (Bedrock answers with one choice)", r.N))
	case r.Logprobs || r.TopLogprobs > 0:
		return nil, unsupported("logprobs")
	}
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(r.Model)}
	history := false // the messages hold tool calls or results
	add := func(role types.ConversationRole, blocks ...types.ContentBlock) {
		if len(blocks) == 0 {
			return
		}
		if n := len(in.Messages); n > 0 && in.Messages[n-1].Role == role {
			in.Messages[n-1].Content = append(in.Messages[n-1].Content, blocks...)
			return
		}
		in.Messages = append(in.Messages, types.Message{Role: role, Content: blocks})
	}
	for i, m := range r.Messages {
		switch m.Role {
		case "system", "developer":
			if t := m.Text(); t != "" {
				in.System = append(in.System, &types.SystemContentBlockMemberText{Value: t})
			}
		case "user":
			blocks, err := userBlocks(m, unsupported)
			if err != nil {
				return nil, err
			}
			add(types.ConversationRoleUser, blocks...)
		case "assistant":
			var blocks []types.ContentBlock
			if t := m.Text(); t != "" {
				blocks = append(blocks, &types.ContentBlockMemberText{Value: t})
			}
			for _, tc := range m.ToolCalls {
				input, err := jsonDocument(tc.Arguments, "{}")
				if err != nil {
					return nil, badRequest(r.Model, "messages[%d]: the arguments of tool call %q are not a JSON object: %v", i, tc.ID, err)
				}
				blocks = append(blocks, &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
					ToolUseId: aws.String(tc.ID), Name: aws.String(tc.Name), Input: input,
				}})
				history = true
			}
			add(types.ConversationRoleAssistant, blocks...)
		case "tool", "function":
			text := m.Text()
			if text == "" {
				text = "(empty)" // a tool result needs content
			}
			add(types.ConversationRoleUser, &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
				ToolUseId: aws.String(m.ToolCallID),
				Content:   []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: text}},
			}})
			history = true
		default:
			return nil, badRequest(r.Model, "messages[%d]: unknown role %q", i, m.Role)
		}
	}
	if len(in.Messages) == 0 {
		return nil, badRequest(r.Model, "the request has no user or assistant message")
	}
	if r.Continue {
		// The answer so far is the prefill of a trailing assistant message,
		// which Anthropic's models refuse with trailing whitespace; the
		// continuation then starts with it.
		n := len(in.Messages) - 1
		last := &in.Messages[n]
		if t, ok := last.Content[len(last.Content)-1].(*types.ContentBlockMemberText); ok && last.Role == types.ConversationRoleAssistant {
			if t.Value = strings.TrimRight(t.Value, " \t\r\n"); t.Value == "" {
				if last.Content = last.Content[:len(last.Content)-1]; len(last.Content) == 0 {
					in.Messages = in.Messages[:n]
				}
			}
		}
	}

	ic := &types.InferenceConfiguration{StopSequences: r.Stop}
	switch {
	case r.MaxTokens > 0:
		ic.MaxTokens = aws.Int32(int32(min(r.MaxTokens, math.MaxInt32)))
	case defaultMax > 0:
		ic.MaxTokens = aws.Int32(int32(min(defaultMax, math.MaxInt32)))
	}
	if r.Temperature != nil {
		ic.Temperature = aws.Float32(float32(*r.Temperature))
	}
	if r.TopP != nil {
		ic.TopP = aws.Float32(float32(*r.TopP))
	}
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		in.InferenceConfig = ic
	}

	tc, err := toolConfig(r, history, unsupported)
	if err != nil {
		return nil, err
	}
	in.ToolConfig = tc

	if f := r.ResponseFormat; f != nil {
		switch f.Type {
		case "", oai.FormatText:
		case oai.FormatJSONSchema:
			name := f.Name
			if name == "" {
				name = "response"
			}
			in.OutputConfig = &types.OutputConfig{TextFormat: &types.OutputFormat{
				Type: types.OutputFormatTypeJsonSchema,
				Structure: &types.OutputFormatStructureMemberJsonSchema{Value: types.JsonSchemaDefinition{
					Name: aws.String(name), Schema: aws.String(string(f.Schema)),
				}},
			}}
		default:
			return nil, unsupported("response_format " + f.Type)
		}
	}
	return in, nil
}

// userBlocks maps a user message's parts: text, and images given as
// data: URLs.
func userBlocks(m oai.Message, unsupported func(string) error) ([]types.ContentBlock, error) {
	var blocks []types.ContentBlock
	for _, p := range m.Parts {
		switch p.Type {
		case oai.PartText:
			if p.Text != "" {
				blocks = append(blocks, &types.ContentBlockMemberText{Value: p.Text})
			}
		case oai.PartImage:
			mediaType, data, ok := p.Image()
			if !ok {
				return nil, unsupported("image URLs that are not base64 data: URLs")
			}
			format, ok := imageFormats[strings.ToLower(mediaType)]
			if !ok {
				return nil, unsupported("images of type " + mediaType)
			}
			blocks = append(blocks, &types.ContentBlockMemberImage{Value: types.ImageBlock{
				Format: format, Source: &types.ImageSourceMemberBytes{Value: data},
			}})
		default:
			return nil, unsupported("content parts of type " + p.Type)
		}
	}
	return blocks, nil
}

// imageFormats are the image media types Converse takes.
var imageFormats = map[string]types.ImageFormat{
	"image/png":  types.ImageFormatPng,
	"image/jpeg": types.ImageFormatJpeg,
	"image/jpg":  types.ImageFormatJpeg,
	"image/gif":  types.ImageFormatGif,
	"image/webp": types.ImageFormatWebp,
}

// toolConfig maps tools and tool_choice: auto, required and a function
// become auto, any and tool; none omits the tools, unless the messages
// hold tool calls or results, which Bedrock accepts only with tools
// declared (the choice is then left to the model).
func toolConfig(r *oai.Request, history bool, unsupported func(string) error) (*types.ToolConfiguration, error) {
	if len(r.Tools) == 0 {
		if c := r.ToolChoice; c != nil && (c.Mode == oai.ToolRequired || c.Mode == oai.ToolFunction) {
			return nil, badRequest(r.Model, "tool_choice %s needs tools", c.Mode)
		}
		return nil, nil
	}
	tc := &types.ToolConfiguration{}
	switch c := r.ToolChoice; {
	case c == nil || c.Mode == oai.ToolAuto:
		tc.ToolChoice = &types.ToolChoiceMemberAuto{}
	case c.Mode == oai.ToolNone:
		if !history {
			return nil, nil
		}
	case c.Mode == oai.ToolRequired:
		tc.ToolChoice = &types.ToolChoiceMemberAny{}
	case c.Mode == oai.ToolFunction:
		tc.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(c.Name)}}
	default:
		return nil, unsupported("tool_choice " + c.Mode)
	}
	for _, t := range r.Tools {
		schema, err := jsonDocument(string(t.Parameters), `{"type":"object","properties":{}}`)
		if err != nil {
			return nil, badRequest(r.Model, "the parameters of tool %q are not a JSON schema: %v", t.Name, err)
		}
		spec := types.ToolSpecification{Name: aws.String(t.Name), InputSchema: &types.ToolInputSchemaMemberJson{Value: schema}}
		if t.Description != "" {
			spec.Description = aws.String(t.Description)
		}
		if t.Strict {
			spec.Strict = aws.Bool(true)
		}
		tc.Tools = append(tc.Tools, &types.ToolMemberToolSpec{Value: spec})
	}
	return tc, nil
}

// jsonDocument turns a JSON object's text into a document for the SDK;
// blank text is def. Numbers keep their exact text.
func jsonDocument(text, def string) (document.Interface, error) {
	if strings.TrimSpace(text) == "" {
		text = def
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	return document.NewLazyDocument(numbers(v)), nil
}

// numbers replaces json.Number (which the SDK's document encoder would
// write as a string) with smithy's document.Number.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return smithydocument.Number(x)
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// documentJSON is a document's JSON text ("{}" for none).
func documentJSON(d document.Interface) (string, error) {
	if d == nil {
		return "{}", nil
	}
	b, err := d.MarshalSmithyDocument()
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

func badRequest(model, format string, args ...any) *llm.Error {
	return &llm.Error{Kind: llm.KindBadRequest, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Model: model, Message: fmt.Sprintf(format, args...)}
}

// streamInput is in as a ConverseStreamInput.
func streamInput(in *bedrockruntime.ConverseInput) *bedrockruntime.ConverseStreamInput {
	return &bedrockruntime.ConverseStreamInput{
		ModelId: in.ModelId, Messages: in.Messages, System: in.System, InferenceConfig: in.InferenceConfig,
		ToolConfig: in.ToolConfig, OutputConfig: in.OutputConfig,
		AdditionalModelRequestFields: in.AdditionalModelRequestFields,
	}
}
