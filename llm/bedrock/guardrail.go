package bedrock

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// ApplyGuardrail calls Bedrock Guardrails' ApplyGuardrail, with the
// client's region, endpoint, credentials and transport; the guardrail
// check of package guard uses it. Its error is the SDK's, as it is.
func (c *Client) ApplyGuardrail(ctx context.Context, in *bedrockruntime.ApplyGuardrailInput) (*bedrockruntime.ApplyGuardrailOutput, error) {
	return c.rt.ApplyGuardrail(ctx, in)
}
