package guard

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm/bedrock"
)

// BedrockOptions are a bedrock check's guardrail and where to call it.
type BedrockOptions struct {
	GuardrailID, GuardrailVersion string
	// Region is the AWS region; Endpoint, when set, overrides the
	// regional URL. Credentials come from the default chain
	// (environment, shared config, instance role).
	Region, Endpoint string
}

// Bedrock is the bedrock check: Amazon Bedrock Guardrails'
// ApplyGuardrail, with source INPUT on the input stage and OUTPUT on the
// output stage, and one text content block per text checked. The
// guardrail intervened (action GUARDRAIL_INTERVENED) is a finding whose
// reason names the policies and their types from the assessments (never
// the matched text); a mask rule takes Bedrock's outputs as the masked
// texts when Bedrock anonymized (its outputs, one per content block
// sent), and blocks when one of its policies blocked or its outputs do
// not match the blocks sent.
type Bedrock struct {
	o  BedrockOptions
	rt *bedrock.Client
}

// NewBedrock returns the check for o.
func NewBedrock(o BedrockOptions) (*Bedrock, error) {
	c, err := bedrock.New(context.Background(), bedrock.Options{Name: "guardrail " + o.GuardrailID, Region: o.Region, Endpoint: o.Endpoint})
	if err != nil {
		return nil, err
	}
	return &Bedrock{o: o, rt: c}, nil
}

// Name implements Caller.
func (*Bedrock) Name() string { return config.GuardBedrock }

// Call implements Caller.
func (b *Bedrock) Call(ctx context.Context, _ Env, st Stage, ts []Text) (Verdict, error) {
	if len(ts) == 0 {
		return Verdict{}, nil
	}
	source := types.GuardrailContentSourceInput
	if st == Output {
		source = types.GuardrailContentSourceOutput
	}
	content := make([]types.GuardrailContentBlock, len(ts))
	for i, t := range ts {
		content[i] = &types.GuardrailContentBlockMemberText{Value: types.GuardrailTextBlock{Text: aws.String(t.Content)}}
	}
	out, err := b.rt.ApplyGuardrail(ctx, &bedrockruntime.ApplyGuardrailInput{
		GuardrailIdentifier: aws.String(b.o.GuardrailID),
		GuardrailVersion:    aws.String(b.o.GuardrailVersion),
		Source:              source,
		Content:             content,
	})
	if err != nil {
		return Verdict{}, fmt.Errorf("bedrock guardrail: %w", err)
	}
	switch out.Action {
	case types.GuardrailActionNone:
		return Verdict{}, nil
	case types.GuardrailActionGuardrailIntervened:
	default:
		return Verdict{}, fmt.Errorf("bedrock guardrail: unknown action %q", out.Action)
	}
	what, blocked := assessed(out.Assessments)
	v := Verdict{Reason: "the Bedrock guardrail intervened", Block: blocked}
	if len(what) > 0 {
		v.Reason += ": " + strings.Join(what, ", ")
	}
	// Bedrock's outputs match the content blocks sent, one each; when they
	// do not, there is nothing to mask with (a mask rule blocks).
	if !blocked && len(out.Outputs) == len(ts) {
		v.Masked = make([]string, len(ts))
		for i, o := range out.Outputs {
			v.Masked[i] = aws.ToString(o.Text)
		}
	}
	return v, nil
}

// assessed names what the assessments found ("content VIOLENCE blocked",
// "pii EMAIL anonymized"), in order and each once, and whether any
// policy blocked. Matched text is never named.
func assessed(as []types.GuardrailAssessment) (what []string, blocked bool) {
	note := func(kind, typ, action string) {
		if action == "" || action == "NONE" {
			return
		}
		if action == "BLOCKED" {
			blocked = true
		}
		s := kind
		if typ != "" {
			s += " " + typ
		}
		s += " " + strings.ToLower(action)
		if !slices.Contains(what, s) {
			what = append(what, s)
		}
	}
	for _, a := range as {
		if p := a.ContentPolicy; p != nil {
			for _, f := range p.Filters {
				note("content", string(f.Type), string(f.Action))
			}
		}
		if p := a.TopicPolicy; p != nil {
			for _, t := range p.Topics {
				note("topic", safeName(aws.ToString(t.Name)), string(t.Action))
			}
		}
		if p := a.WordPolicy; p != nil {
			for _, w := range p.CustomWords {
				note("word", "", string(w.Action))
			}
			for _, w := range p.ManagedWordLists {
				note("word", string(w.Type), string(w.Action))
			}
		}
		if p := a.SensitiveInformationPolicy; p != nil {
			for _, e := range p.PiiEntities {
				note("pii", string(e.Type), string(e.Action))
			}
			for _, r := range p.Regexes {
				note("regex", safeName(aws.ToString(r.Name)), string(r.Action))
			}
		}
		if p := a.ContextualGroundingPolicy; p != nil {
			for _, f := range p.Filters {
				note("grounding", string(f.Type), string(f.Action))
			}
		}
	}
	return what, blocked
}

// safeName keeps an operator's policy name when it looks like one.
func safeName(s string) string {
	if category.MatchString(s) {
		return s
	}
	return ""
}
