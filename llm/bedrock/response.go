package bedrock

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/oai"
)

// finishReason maps Bedrock's stopReason to OpenAI's finish_reason.
func finishReason(r types.StopReason) string {
	switch r {
	case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
		return oai.FinishLength
	case types.StopReasonToolUse:
		return oai.FinishToolCalls
	case types.StopReasonGuardrailIntervened, types.StopReasonContentFiltered:
		return oai.FinishContentFilter
	}
	// end_turn, stop_sequence, malformed_model_output, malformed_tool_use and
	// reasons newer than this package.
	return oai.FinishStop
}

// usage maps Bedrock's token usage.
func usage(u *types.TokenUsage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	out := llm.Usage{
		PromptTokens:     int(aws.ToInt32(u.InputTokens)),
		CompletionTokens: int(aws.ToInt32(u.OutputTokens)),
		TotalTokens:      int(aws.ToInt32(u.TotalTokens)),
		CachedTokens:     int(aws.ToInt32(u.CacheReadInputTokens)),
		CacheWriteTokens: int(aws.ToInt32(u.CacheWriteInputTokens)),
	}
	// Bedrock counts cached prompt tokens apart from inputTokens; OpenAI's
	// prompt_tokens include them.
	out.PromptTokens += out.CachedTokens + out.CacheWriteTokens
	out.TotalTokens = max(out.TotalTokens, out.PromptTokens+out.CompletionTokens)
	return out
}

// completion maps a Converse answer. An answer stopped by a guardrail or a
// content filter before any output is a KindContentFilter error, as a
// refused prompt is at OpenAI.
func (c *Client) completion(model string, out *bedrockruntime.ConverseOutput) (*oai.Completion, *llm.Error) {
	comp := &oai.Completion{
		ID: oai.ID(requestID(out.ResultMetadata)), Model: model, Created: time.Now().Unix(),
		FinishReason: finishReason(out.StopReason), Usage: usage(out.Usage),
	}
	if msg, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
		for _, b := range msg.Value.Content {
			switch v := b.(type) {
			case *types.ContentBlockMemberText:
				comp.Text += v.Value
			case *types.ContentBlockMemberToolUse:
				args, err := documentJSON(v.Value.Input)
				if err != nil {
					return nil, &llm.Error{Kind: llm.KindServer, Status: http.StatusOK, Provider: c.name, Model: model,
						Message: "malformed tool use input: " + err.Error(), Err: err}
				}
				comp.ToolCalls = append(comp.ToolCalls, oai.ToolCall{
					ID: aws.ToString(v.Value.ToolUseId), Name: aws.ToString(v.Value.Name), Arguments: args,
				})
			}
		}
	}
	if comp.FinishReason == oai.FinishContentFilter && comp.Text == "" && len(comp.ToolCalls) == 0 {
		return nil, c.contentFilterError(model, out.StopReason)
	}
	return comp, nil
}

func (c *Client) contentFilterError(model string, r types.StopReason) *llm.Error {
	return &llm.Error{
		Kind: llm.KindContentFilter, Status: http.StatusOK, Code: string(r), Provider: c.name, Model: model,
		Message: "the model's answer was blocked before any output (stopReason " + string(r) + ")",
	}
}
